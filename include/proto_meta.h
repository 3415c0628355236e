/* proto_meta.h: memcached's meta commands (mg ms md ma mn me), part of the
 * text protocol stream. The parser is a pure function from a line to a
 * request; execution drives the same store operations. */
#ifndef PROTO_META_H
#define PROTO_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "util.h"

/* Limits, as memcached 1.6 enforces them. */
#define META_MAX_TOKENS 19 /* command, key, [datalen,] flags: at most */
#define META_MAX_FLAGS 17  /* so at most 17 flags (16 for ms) */
#define META_OPAQUE_MAX 31 /* an O token longer than this is refused */
#define META_LINE_MAX 1024 /* room for one response line */

enum meta_cmd {
	META_ERROR = 0, /* req->error holds the reply line */
	META_MG,
	META_MS,
	META_MD,
	META_MA,
	META_MN,
	META_ME
};

/* Bit for a flag character in meta_req.seen ('A'..'z'). */
#define META_BIT(ch) (UINT64_C(1) << ((unsigned)(ch) - 'A'))

struct meta_req {
	enum meta_cmd cmd;
	const char *error; /* META_ERROR: reply without "\r\n" */
	bool swallow;      /* ms error after the length was known: discard
	                      vlen + 2 bytes of value */
	uint32_t vlen;     /* ms: value length */
	const char *key;   /* key as sent (points into the line) */
	size_t nkey;
	bool b64;         /* b: the key was base64; lkey is the decoded key */
	const char *lkey; /* key to look up: key, or dkey when b64 */
	size_t nlkey;
	char dkey[KEY_MAX_LENGTH + 1];
	uint64_t seen;              /* META_BIT(ch) for every flag sent */
	char order[META_MAX_FLAGS]; /* flag characters in request order */
	int nflags;
	const char
	    *opaque; /* O token (without the 'O'), points into the line */
	size_t nopaque;
	int32_t ttl;      /* T */
	int32_t vivify;   /* N */
	int32_t recache;  /* R */
	uint32_t cflags;  /* F: client flags */
	uint64_t cas;     /* C */
	uint64_t delta;   /* D, default 1 */
	uint64_t initial; /* J, default 0 */
	char mode;        /* M: the mode character, 0 when absent */
};

/* proto_meta.c */
/* Parses one meta command line (without "\r\n"). Never fails: errors come
 * back as META_ERROR with memcached's reply text. Pointers in req point
 * into line (or into req itself). */
void proto_meta_parse(const char *line, size_t len, struct meta_req *req);
/* True if req sent flag ch. */
static inline bool
proto_meta_has(const struct meta_req *req, char ch)
{
	return (req->seen & META_BIT(ch)) != 0;
}
/* Base64 (standard alphabet, padded): decodes src with memcached's
 * tolerance (characters outside the alphabet are skipped, decoding stops
 * after the first padded quantum). Returns the decoded length, or -1. */
long proto_meta_b64_decode(const char *src, size_t len, char *dst,
                           size_t dstlen);
/* Encodes src into dst (room for 4 * ((len + 2) / 3) bytes); returns the
 * encoded length. */
size_t proto_meta_b64_encode(const char *src, size_t len, char *dst);
/* Handles one meta command line (already consumed from c's input,
 * without its "\r\n"). For ms it starts reading the value. */
enum proc_result proto_meta_process(conn *c, const char *line, size_t len);

#endif
