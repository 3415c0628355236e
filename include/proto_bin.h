/* proto_bin.h: memcached's binary protocol. The parser is a pure function
 * from bytes to a request; execution drives the same store operations as
 * the text protocol. */
#ifndef PROTO_BIN_H
#define PROTO_BIN_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

#define BIN_REQ_MAGIC 0x80
#define BIN_RES_MAGIC 0x81
#define BIN_HEADER_LEN 24

/* proto_bin.c: the parser's result (fields in host order). The body
 * (extras, key, value) follows the 24-byte header. */
struct bin_req {
	uint8_t magic;
	uint8_t opcode;
	uint16_t keylen;
	uint8_t extlen;
	uint8_t datatype;
	uint16_t vbucket;
	uint32_t bodylen;
	uint32_t opaque;
	uint64_t cas;
};

/* Decodes a 24-byte header. Returns 0 when valid, or a binary status code
 * (for example 0x0004 invalid arguments) when the header is inconsistent,
 * or -1 when the magic is wrong (the connection must be closed). */
int proto_bin_parse_header(const uint8_t *p, struct bin_req *req);
/* Processes one request from c's input. */
enum proc_result proto_bin_process(conn *c);

#endif
