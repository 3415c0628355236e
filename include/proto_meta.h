/* proto_meta.h: memcached's meta commands (mg ms md ma mn me), part of the
 * text protocol stream. The parser is a pure function from a line to a
 * request; execution drives the same store operations. */
#ifndef PROTO_META_H
#define PROTO_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

/* proto_meta.c */
/* Handles one meta command line (already consumed from c's input,
 * without its "\r\n"). For ms it starts reading the value. */
enum proc_result proto_meta_process(conn *c, const char *line, size_t len);

#endif
