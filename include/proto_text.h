/* proto_text.h: memcached's text protocol. The parser is a pure function
 * from one command line to a request; execution drives the store. */
#ifndef PROTO_TEXT_H
#define PROTO_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

enum text_cmd {
	TXT_ERROR = 0, /* req->error holds the reply line */
	TXT_GET,
	TXT_GETS,
	TXT_GAT,
	TXT_GATS,
	TXT_SET,
	TXT_ADD,
	TXT_REPLACE,
	TXT_APPEND,
	TXT_PREPEND,
	TXT_CAS,
	TXT_INCR,
	TXT_DECR,
	TXT_DELETE,
	TXT_TOUCH,
	TXT_FLUSH_ALL,
	TXT_VERSION,
	TXT_VERBOSITY,
	TXT_QUIT,
	TXT_SHUTDOWN,
	TXT_STATS,
	TXT_CACHE_MEMLIMIT,
	TXT_META,
	TXT_DIGEST,    /* ours: content digest, see store_digest() */
	TXT_DEBUGTIME, /* debug builds only: move, stop or restart the clock */
	TXT_ADMIN /* lru_crawler, lru, slabs, stats cachedump (proto_admin) */
};

struct text_req {
	enum text_cmd cmd;
	const char *error; /* TXT_ERROR: reply without "\r\n" */
	bool close_after;  /* TXT_ERROR: close the connection after replying */
	const char *key;   /* first key */
	size_t nkey;
	const char *keys; /* get/gets/gat/gats: all keys, space separated */
	size_t nkeys_len;
	uint32_t flags;
	int64_t exptime;    /* as sent (relative, absolute or negative) */
	uint32_t nbytes;    /* storage commands: value length */
	int64_t nbytes_raw; /* as sent, for the negative-length check */
	uint64_t cas;
	uint64_t delta; /* incr/decr */
	uint64_t num;   /* flush_all delay, verbosity level, memlimit MB */
	int64_t snum;   /* debugtime: seconds to move the clock */
	bool has_num;
	bool noreply;
	const char *arg; /* stats group / shutdown argument */
	size_t narg;
	uint32_t parts, lo, hi; /* digest: range [lo, hi) of parts */
};

/* proto_text.c */
/* Parses one line (without "\r\n" or "\n"). Never fails: errors come back
 * as TXT_ERROR with memcached's reply text. */
void proto_text_parse(const char *line, size_t len, struct text_req *req);
/* Takes the next key from a space separated list; returns false at the end. */
bool proto_text_next_key(const char **cursor, const char *end, const char **key,
                         size_t *nkey);
/* Processes one request from c's input. */
enum proc_result proto_text_process(conn *c);

#endif
