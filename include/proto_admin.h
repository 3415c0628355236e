/* proto_admin.h: memcached's text administration commands for the LRU
 * crawler, the LRUs and slab pages: "lru_crawler ...", "lru ...",
 * "slabs reassign|automove ..." and "stats cachedump". The text front end
 * hands such lines here (TXT_ADMIN). */
#ifndef PROTO_ADMIN_H
#define PROTO_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"

/* proto_admin.c */
/* True if a line's first words name one of these commands. */
bool proto_admin_match(const char *line, size_t len);
/* Runs one such line (without "\r\n"), answering on c. */
enum proc_result proto_admin_process(conn *c, const char *line, size_t len);

#endif
