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

/* Opcodes memcached 1.6 knows. */
enum bin_opcode {
	BIN_CMD_GET = 0x00,
	BIN_CMD_SET = 0x01,
	BIN_CMD_ADD = 0x02,
	BIN_CMD_REPLACE = 0x03,
	BIN_CMD_DELETE = 0x04,
	BIN_CMD_INCREMENT = 0x05,
	BIN_CMD_DECREMENT = 0x06,
	BIN_CMD_QUIT = 0x07,
	BIN_CMD_FLUSH = 0x08,
	BIN_CMD_GETQ = 0x09,
	BIN_CMD_NOOP = 0x0a,
	BIN_CMD_VERSION = 0x0b,
	BIN_CMD_GETK = 0x0c,
	BIN_CMD_GETKQ = 0x0d,
	BIN_CMD_APPEND = 0x0e,
	BIN_CMD_PREPEND = 0x0f,
	BIN_CMD_STAT = 0x10,
	BIN_CMD_SETQ = 0x11,
	BIN_CMD_ADDQ = 0x12,
	BIN_CMD_REPLACEQ = 0x13,
	BIN_CMD_DELETEQ = 0x14,
	BIN_CMD_INCREMENTQ = 0x15,
	BIN_CMD_DECREMENTQ = 0x16,
	BIN_CMD_QUITQ = 0x17,
	BIN_CMD_FLUSHQ = 0x18,
	BIN_CMD_APPENDQ = 0x19,
	BIN_CMD_PREPENDQ = 0x1a,
	BIN_CMD_VERBOSITY = 0x1b,
	BIN_CMD_TOUCH = 0x1c,
	BIN_CMD_GAT = 0x1d,
	BIN_CMD_GATQ = 0x1e,
	BIN_CMD_SASL_LIST_MECHS = 0x20,
	BIN_CMD_SASL_AUTH = 0x21,
	BIN_CMD_SASL_STEP = 0x22,
	BIN_CMD_GATK = 0x23,
	BIN_CMD_GATKQ = 0x24
};

/* Response status codes (the ones memcached sends). */
enum bin_status {
	BIN_STATUS_OK = 0x0000,
	BIN_STATUS_KEY_ENOENT = 0x0001,
	BIN_STATUS_KEY_EEXISTS = 0x0002,
	BIN_STATUS_E2BIG = 0x0003,
	BIN_STATUS_EINVAL = 0x0004,
	BIN_STATUS_NOT_STORED = 0x0005,
	BIN_STATUS_DELTA_BADVAL = 0x0006,
	BIN_STATUS_AUTH_ERROR = 0x0020,
	BIN_STATUS_UNKNOWN_COMMAND = 0x0081,
	BIN_STATUS_ENOMEM = 0x0082
};

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

/* A response header (fields in host order). */
struct bin_res {
	uint8_t opcode;
	uint8_t extlen;
	uint16_t keylen;
	uint16_t status;
	uint32_t bodylen;
	uint32_t opaque;
	uint64_t cas;
};

/* Decodes a 24-byte header (every field of req is filled, even on error).
 * Returns 0 when valid (unknown opcodes are valid: the caller answers
 * "Unknown command" and skips the body), -1 when the magic is wrong (the
 * connection must be closed without a reply), or a binary status code
 * when the lengths are inconsistent: 0x0081 when the key and extras do
 * not fit in the body, 0x0004 for a key over 250 bytes or lengths the
 * opcode does not allow. After a status the connection replies and
 * closes, as memcached does. */
int proto_bin_parse_header(const uint8_t *p, struct bin_req *req);
/* Encodes a response header into p (24 bytes). */
void proto_bin_encode_header(uint8_t *p, const struct bin_res *res);
/* Returns the error body memcached sends with a status ("Not found"...),
 * or "" for success. */
const char *proto_bin_status_text(uint16_t status);
/* Returns the opcode's name ("get", "setq"...) or NULL if unknown. */
const char *proto_bin_opcode_name(uint8_t opcode);
/* Processes one request from c's input. */
enum proc_result proto_bin_process(conn *c);

#endif
