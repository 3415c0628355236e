/* repl_proto.h: the replication wire format (see doc/replication.md).
 * Every record is a 5-byte header, type (u8) and body length (u32, big
 * endian), then the body. Integers are big endian. Encoders append to a
 * growable buffer; the decoder is a pure function from bytes to a record. */
#ifndef REPL_PROTO_H
#define REPL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define REPL_MAGIC 0x52504331u /* "RPC1" */
#define REPL_PROTO_VERSION 2
#define REPL_HDR_LEN 5
/* Item flags that travel with an ITEM: meta's stale mark and win token. */
#define REPL_ITEM_FLAGS (ITEM_STALE | ITEM_TOKEN)
#define REPL_NONCE_LEN 32
#define REPL_MAC_LEN 32

enum repl_type {
	REPL_HELLO =
	    1,         /* handshake: magic, version, node id, run id, offsets */
	REPL_AUTH = 2, /* HMAC over the peer's nonce */
	REPL_ITEM = 3, /* a whole item state */
	REPL_DELETE = 4,      /* delete (tombstone) */
	REPL_TOUCH = 5,       /* new exptime */
	REPL_FLUSH = 6,       /* flush_all at an absolute time */
	REPL_COPY_BEGIN = 7,  /* a full copy starts */
	REPL_COPY_END = 8,    /* a full copy ended: count of items sent */
	REPL_PING = 9,        /* heartbeat: sender's offset and time */
	REPL_ACK = 10,        /* receiver's applied offset */
	REPL_DIGEST_REQ = 11, /* reconciliation: ask for range digests */
	REPL_DIGEST = 12,     /* reconciliation: range digests */
	REPL_RANGE_REQ = 13,  /* reconciliation: send the items of a range */
	REPL_RANGE_END = 14,  /* reconciliation: a range has been sent */
	REPL_TYPE_MAX = 15
};

struct repl_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t node_id;
	uint64_t run_id;        /* random per process start */
	uint64_t peer_run_id;   /* the run id we last synced from, 0 if none */
	uint64_t resume_offset; /* next offset we need from that run */
	uint32_t flags;         /* REPL_HELLO_* */
	uint8_t nonce[REPL_NONCE_LEN];
};
#define REPL_HELLO_SYNC 0x1 /* sender runs -o repl_sync */
#define REPL_HELLO_AUTH 0x2 /* sender requires a secret */

/* A decoded record. Pointers point into the decoded buffer. */
struct repl_msg {
	enum repl_type type;
	size_t len;                /* total bytes, header included */
	struct repl_hello hello;   /* REPL_HELLO */
	uint8_t mac[REPL_MAC_LEN]; /* REPL_AUTH */
	/* REPL_ITEM, REPL_DELETE, REPL_TOUCH */
	uint64_t version;
	uint16_t origin;
	uint64_t cas;
	uint32_t flags;
	uint32_t exptime; /* ITEM, TOUCH: absolute unix time */
	const char *key;
	uint8_t nkey;
	uint8_t iflags; /* ITEM: meta state bits (REPL_ITEM_FLAGS) */
	const char *value;
	uint32_t nbytes;
	/* REPL_FLUSH: when (absolute, 0 = now) */
	uint32_t when;
	/* REPL_PING, REPL_ACK, REPL_COPY_END: a 64-bit number */
	uint64_t offset;
	uint64_t count;
	/* REPL_DIGEST_REQ, REPL_DIGEST, REPL_RANGE_REQ, REPL_RANGE_END:
	 * bucket range [lo, hi) of `parts` equal parts of the key hash space,
	 * and for REPL_DIGEST the digests (8 bytes each) in `digests`. */
	uint32_t parts;
	uint32_t lo;
	uint32_t hi;
	const uint8_t *digests;
};

/* Pending bytes are data[0..len); data[len..cap) is free space. Consumed
 * bytes stay in front of data until a compaction: the allocation starts at
 * data - off. A zeroed struct is an empty buffer. */
struct repl_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t off; /* bytes consumed in front of data (see repl_buf_consume) */
};

/* repl_proto.c */
/* Appends to b (growing it). Each returns the bytes appended. */
size_t repl_encode_hello(struct repl_buf *b, const struct repl_hello *h);
size_t repl_encode_auth(struct repl_buf *b, const uint8_t mac[REPL_MAC_LEN]);
size_t repl_encode_item(struct repl_buf *b, const item *it);
size_t repl_encode_delete(struct repl_buf *b, const char *key, size_t nkey,
                          uint64_t version, uint16_t origin, uint64_t cas);
size_t repl_encode_touch(struct repl_buf *b, const char *key, size_t nkey,
                         uint32_t exptime, uint64_t version, uint16_t origin);
size_t repl_encode_flush(struct repl_buf *b, uint32_t when, uint64_t version,
                         uint16_t origin);
/* COPY_BEGIN, COPY_END (count), PING (offset), ACK (offset). */
size_t repl_encode_u64(struct repl_buf *b, enum repl_type type, uint64_t v);
size_t repl_encode_digest(struct repl_buf *b, enum repl_type type,
                          uint32_t parts, uint32_t lo, uint32_t hi,
                          const uint64_t *digests, size_t ndigests);
/* Encodes the record for a store mutation. */
size_t repl_encode_mutation(struct repl_buf *b, const struct mutation *m);
/* Decodes one record from p[0..len). Returns the bytes it takes (> 0),
 * 0 if more bytes are needed, or -1 if the record is malformed (an unknown
 * type, a length over max_body, or fields that do not add up); then *err
 * names the problem. */
long repl_decode(const uint8_t *p, size_t len, size_t max_body,
                 struct repl_msg *m, const char **err);
/* Returns digest i (0 <= i < hi - lo) of a decoded REPL_DIGEST. */
uint64_t repl_msg_digest(const struct repl_msg *m, uint32_t i);
/* Returns the record type's name ("ITEM", ...). */
const char *repl_type_name(enum repl_type t);
/* Buffer helpers. */
void repl_buf_reserve(struct repl_buf *b, size_t extra);
void repl_buf_consume(struct repl_buf *b, size_t n);
void repl_buf_free(struct repl_buf *b);

#endif
