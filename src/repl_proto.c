/* repl_proto.c: the replication wire format, encoders and the decoder.
 * The body layout of every record is in doc/replication.md ("Wire format");
 * keep the two in step. */
#include "config.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "repl_proto.h"
#include "util.h"

/* Body sizes, in bytes (doc/replication.md has the field tables).
 * HELLO: magic 4, version 2, node 2, run ids and offset 3 x 8, flags 4,
 * nonce 32. ITEM: version 8, origin 2, cas 8, flags 4, exptime 4, nkey 1,
 * nbytes 4, then key and value. DELETE: version 8, origin 2, cas 8, nkey 1,
 * key. TOUCH: version 8, origin 2, exptime 4, nkey 1, key. FLUSH: version
 * 8, origin 2, when 4. Ranges: parts 4, lo 4, hi 4 (then DIGEST's 8-byte
 * digests). */
#define HELLO_BODY 68
#define AUTH_BODY REPL_MAC_LEN
#define ITEM_FIXED 32
#define DELETE_FIXED 19
#define TOUCH_FIXED 15
#define FLUSH_BODY 14
#define U64_BODY 8
#define RANGE_FIXED 12
#define DIGEST_LEN 8
#define BUF_MIN_ALLOC 4096

/* Per type: its name, the smallest body, and whether that is the only
 * body length allowed. Index 0 is not a type. */
static const struct {
	const char *name;
	uint32_t min_body;
	bool fixed;
} types[REPL_TYPE_MAX] = {
    [REPL_HELLO] = {"HELLO", HELLO_BODY, true},
    [REPL_AUTH] = {"AUTH", AUTH_BODY, true},
    [REPL_ITEM] = {"ITEM", ITEM_FIXED, false},
    [REPL_DELETE] = {"DELETE", DELETE_FIXED, false},
    [REPL_TOUCH] = {"TOUCH", TOUCH_FIXED, false},
    [REPL_FLUSH] = {"FLUSH", FLUSH_BODY, true},
    [REPL_COPY_BEGIN] = {"COPY_BEGIN", U64_BODY, true},
    [REPL_COPY_END] = {"COPY_END", U64_BODY, true},
    [REPL_PING] = {"PING", U64_BODY, true},
    [REPL_ACK] = {"ACK", U64_BODY, true},
    [REPL_DIGEST_REQ] = {"DIGEST_REQ", RANGE_FIXED, true},
    [REPL_DIGEST] = {"DIGEST", RANGE_FIXED, false},
    [REPL_RANGE_REQ] = {"RANGE_REQ", RANGE_FIXED, true},
    [REPL_RANGE_END] = {"RANGE_END", RANGE_FIXED, true},
};

/* ---- buffer ---- */

/* Moves the pending bytes to the start of the allocation. */
static void
buf_compact(struct repl_buf *b)
{
	if (b->off == 0)
		return;
	if (b->len > 0)
		memmove(b->data - b->off, b->data, b->len);
	b->data -= b->off;
	b->cap += b->off;
	b->off = 0;
}

/* Makes room for at least `extra` more bytes after the pending ones. */
void
repl_buf_reserve(struct repl_buf *b, size_t extra)
{
	size_t need, total, want;
	uint8_t *base;

	if (b->cap - b->len >= extra)
		return;
	/* Reuse the consumed front when it is at least half the pending
	 * size: the copy then costs at most twice what was consumed. */
	if (b->off > 0 && b->off >= b->len / 2) {
		buf_compact(b);
		if (b->cap - b->len >= extra)
			return;
	}
	if (extra > SIZE_MAX / 2 - b->off - b->len)
		fatalx("replication buffer: size overflow");
	need = b->off + b->len + extra;
	total = b->off + b->cap;
	want = total < BUF_MIN_ALLOC / 2 ? BUF_MIN_ALLOC : total * 2;
	if (want < need)
		want = need;
	base = realloc(b->data ? b->data - b->off : NULL, want);
	if (base == NULL)
		fatal("replication buffer: realloc %zu bytes", want);
	b->data = base + b->off;
	b->cap = want - b->off;
}

/* Drops n bytes from the front; compacts once more than half the used
 * space is consumed, so the cost per byte stays constant. */
void
repl_buf_consume(struct repl_buf *b, size_t n)
{
	assert(n <= b->len);
	if (n >= b->len) {
		b->len = 0;
		buf_compact(b);
		return;
	}
	b->data += n;
	b->len -= n;
	b->cap -= n;
	b->off += n;
	if (b->off > b->len)
		buf_compact(b);
}

/* Frees the buffer's memory and leaves it empty. */
void
repl_buf_free(struct repl_buf *b)
{
	if (b->data != NULL)
		free(b->data - b->off);
	memset(b, 0, sizeof(*b));
}

/* ---- encoders ---- */

/* Reserves and writes the header of a record with a body of blen bytes;
 * returns where the body goes. The record is counted in b->len already. */
static inline uint8_t *
enc_begin(struct repl_buf *b, enum repl_type type, uint32_t blen)
{
	uint8_t *p;

	repl_buf_reserve(b, REPL_HDR_LEN + (size_t)blen);
	p = b->data + b->len;
	b->len += REPL_HDR_LEN + (size_t)blen;
	p[0] = (uint8_t)type;
	return util_put_be32(p + 1, blen);
}

/* Appends a HELLO; returns the bytes appended. */
size_t
repl_encode_hello(struct repl_buf *b, const struct repl_hello *h)
{
	uint8_t *p = enc_begin(b, REPL_HELLO, HELLO_BODY);

	p = util_put_be32(p, h->magic);
	p = util_put_be16(p, h->version);
	p = util_put_be16(p, h->node_id);
	p = util_put_be64(p, h->run_id);
	p = util_put_be64(p, h->peer_run_id);
	p = util_put_be64(p, h->resume_offset);
	p = util_put_be32(p, h->flags);
	memcpy(p, h->nonce, REPL_NONCE_LEN);
	return REPL_HDR_LEN + HELLO_BODY;
}

/* Appends an AUTH; returns the bytes appended. */
size_t
repl_encode_auth(struct repl_buf *b, const uint8_t mac[REPL_MAC_LEN])
{
	uint8_t *p = enc_begin(b, REPL_AUTH, AUTH_BODY);

	memcpy(p, mac, REPL_MAC_LEN);
	return REPL_HDR_LEN + AUTH_BODY;
}

/* Appends an ITEM with the item's whole state; returns the bytes appended,
 * or 0 (nothing appended) if the item cannot be encoded. This runs for
 * every replicated write: one reserve, then two memcpy. */
size_t
repl_encode_item(struct repl_buf *b, const item *it)
{
	uint8_t *p;
	uint64_t blen = (uint64_t)ITEM_FIXED + it->nkey + it->nbytes;

	if (it->nkey == 0 || it->nkey > KEY_MAX_LENGTH || blen > UINT32_MAX)
		return 0;
	p = enc_begin(b, REPL_ITEM, (uint32_t)blen);
	p = util_put_be64(p, it->version);
	p = util_put_be16(p, it->origin);
	p = util_put_be64(p, it->cas);
	p = util_put_be32(p, it->flags);
	p = util_put_be32(p, it->exptime);
	*p++ = it->nkey;
	p = util_put_be32(p, it->nbytes);
	*p++ = it->iflags & REPL_ITEM_FLAGS;
	memcpy(p, ITEM_key(it), it->nkey);
	if (it->nbytes > 0)
		memcpy(p + it->nkey, ITEM_value(it), it->nbytes);
	return REPL_HDR_LEN + (size_t)blen;
}

/* Appends a DELETE; returns the bytes appended, 0 for a bad key length. */
size_t
repl_encode_delete(struct repl_buf *b, const char *key, size_t nkey,
                   uint64_t version, uint16_t origin, uint64_t cas)
{
	uint8_t *p;

	if (nkey == 0 || nkey > KEY_MAX_LENGTH)
		return 0;
	p = enc_begin(b, REPL_DELETE, (uint32_t)(DELETE_FIXED + nkey));
	p = util_put_be64(p, version);
	p = util_put_be16(p, origin);
	p = util_put_be64(p, cas);
	*p++ = (uint8_t)nkey;
	memcpy(p, key, nkey);
	return REPL_HDR_LEN + DELETE_FIXED + nkey;
}

/* Appends a TOUCH; returns the bytes appended, 0 for a bad key length. */
size_t
repl_encode_touch(struct repl_buf *b, const char *key, size_t nkey,
                  uint32_t exptime, uint64_t version, uint16_t origin)
{
	uint8_t *p;

	if (nkey == 0 || nkey > KEY_MAX_LENGTH)
		return 0;
	p = enc_begin(b, REPL_TOUCH, (uint32_t)(TOUCH_FIXED + nkey));
	p = util_put_be64(p, version);
	p = util_put_be16(p, origin);
	p = util_put_be32(p, exptime);
	*p++ = (uint8_t)nkey;
	memcpy(p, key, nkey);
	return REPL_HDR_LEN + TOUCH_FIXED + nkey;
}

/* Appends a FLUSH; returns the bytes appended. */
size_t
repl_encode_flush(struct repl_buf *b, uint32_t when, uint64_t version,
                  uint16_t origin)
{
	uint8_t *p = enc_begin(b, REPL_FLUSH, FLUSH_BODY);

	p = util_put_be64(p, version);
	p = util_put_be16(p, origin);
	util_put_be32(p, when);
	return REPL_HDR_LEN + FLUSH_BODY;
}

/* Appends a COPY_BEGIN, COPY_END, PING or ACK carrying v; returns the bytes
 * appended, 0 for any other type. */
size_t
repl_encode_u64(struct repl_buf *b, enum repl_type type, uint64_t v)
{
	if (type != REPL_COPY_BEGIN && type != REPL_COPY_END &&
	    type != REPL_PING && type != REPL_ACK)
		return 0;
	util_put_be64(enc_begin(b, type, U64_BODY), v);
	return REPL_HDR_LEN + U64_BODY;
}

/* Appends a DIGEST_REQ, DIGEST, RANGE_REQ or RANGE_END; returns the bytes
 * appended, or 0 if the type is not one of those, the range is not
 * lo <= hi <= parts with parts > 0, or ndigests is not hi - lo for a DIGEST
 * (0 for the others). */
size_t
repl_encode_digest(struct repl_buf *b, enum repl_type type, uint32_t parts,
                   uint32_t lo, uint32_t hi, const uint64_t *digests,
                   size_t ndigests)
{
	uint64_t blen = RANGE_FIXED;
	uint8_t *p;
	size_t i;

	if (type != REPL_DIGEST_REQ && type != REPL_DIGEST &&
	    type != REPL_RANGE_REQ && type != REPL_RANGE_END)
		return 0;
	if (parts == 0 || lo > hi || hi > parts)
		return 0;
	if (type == REPL_DIGEST) {
		if (ndigests != hi - lo)
			return 0;
		blen += (uint64_t)ndigests * DIGEST_LEN;
		if (blen > UINT32_MAX)
			return 0;
	} else if (ndigests != 0) {
		return 0;
	}
	p = enc_begin(b, type, (uint32_t)blen);
	p = util_put_be32(p, parts);
	p = util_put_be32(p, lo);
	p = util_put_be32(p, hi);
	for (i = 0; i < ndigests; i++)
		p = util_put_be64(p, digests[i]);
	return REPL_HDR_LEN + (size_t)blen;
}

/* Appends the record for a store mutation; returns the bytes appended, 0
 * for an unknown mutation type or one that cannot be encoded. */
size_t
repl_encode_mutation(struct repl_buf *b, const struct mutation *m)
{
	switch (m->type) {
	case MUT_ITEM:
		return m->it != NULL ? repl_encode_item(b, m->it) : 0;
	case MUT_DELETE:
		return repl_encode_delete(b, m->key, m->nkey, m->version,
		                          m->origin, m->cas);
	case MUT_TOUCH:
		return repl_encode_touch(b, m->key, m->nkey, m->exptime,
		                         m->version, m->origin);
	case MUT_FLUSH:
		return repl_encode_flush(b, m->when, m->version, m->origin);
	}
	return 0;
}

/* ---- decoder ---- */

/* Checks a [lo, hi) range of `parts` parts; returns false if it is bad. */
static bool
range_valid(uint32_t parts, uint32_t lo, uint32_t hi)
{
	return parts > 0 && lo <= hi && hi <= parts;
}

/* Decodes a body whose length is known to be at least the type's minimum
 * (and exactly it for fixed types). Returns false with *err set if the
 * fields do not add up. */
static bool
decode_body(const uint8_t *p, uint32_t blen, struct repl_msg *m,
            const char **err)
{
	uint64_t want;
	uint64_t v;

	switch (m->type) {
	case REPL_HELLO:
		m->hello.magic = util_get_be32(p);
		if (m->hello.magic != REPL_MAGIC) {
			*err = "bad HELLO magic";
			return false;
		}
		m->hello.version = util_get_be16(p + 4);
		m->hello.node_id = util_get_be16(p + 6);
		m->hello.run_id = util_get_be64(p + 8);
		m->hello.peer_run_id = util_get_be64(p + 16);
		m->hello.resume_offset = util_get_be64(p + 24);
		m->hello.flags = util_get_be32(p + 32);
		memcpy(m->hello.nonce, p + 36, REPL_NONCE_LEN);
		return true;
	case REPL_AUTH:
		memcpy(m->mac, p, REPL_MAC_LEN);
		return true;
	case REPL_ITEM:
		m->version = util_get_be64(p);
		m->origin = util_get_be16(p + 8);
		m->cas = util_get_be64(p + 10);
		m->flags = util_get_be32(p + 18);
		m->exptime = util_get_be32(p + 22);
		m->nkey = p[26];
		m->nbytes = util_get_be32(p + 27);
		m->iflags = p[31];
		if (m->iflags & ~REPL_ITEM_FLAGS) {
			*err = "bad item flags";
			return false;
		}
		want = (uint64_t)ITEM_FIXED + m->nkey + m->nbytes;
		break;
	case REPL_DELETE:
		m->version = util_get_be64(p);
		m->origin = util_get_be16(p + 8);
		m->cas = util_get_be64(p + 10);
		m->nkey = p[18];
		want = (uint64_t)DELETE_FIXED + m->nkey;
		break;
	case REPL_TOUCH:
		m->version = util_get_be64(p);
		m->origin = util_get_be16(p + 8);
		m->exptime = util_get_be32(p + 10);
		m->nkey = p[14];
		want = (uint64_t)TOUCH_FIXED + m->nkey;
		break;
	case REPL_FLUSH:
		m->version = util_get_be64(p);
		m->origin = util_get_be16(p + 8);
		m->when = util_get_be32(p + 10);
		return true;
	case REPL_COPY_BEGIN:
	case REPL_COPY_END:
	case REPL_PING:
	case REPL_ACK:
		v = util_get_be64(p);
		m->offset = v;
		m->count = v;
		return true;
	case REPL_DIGEST_REQ:
	case REPL_DIGEST:
	case REPL_RANGE_REQ:
	case REPL_RANGE_END:
		m->parts = util_get_be32(p);
		m->lo = util_get_be32(p + 4);
		m->hi = util_get_be32(p + 8);
		if (!range_valid(m->parts, m->lo, m->hi)) {
			*err = "bad bucket range";
			return false;
		}
		if (m->type == REPL_DIGEST) {
			if ((blen - RANGE_FIXED) % DIGEST_LEN != 0 ||
			    (blen - RANGE_FIXED) / DIGEST_LEN !=
			        (uint64_t)m->hi - m->lo) {
				*err = "digest count does not match range";
				return false;
			}
			m->digests = p + RANGE_FIXED;
		}
		return true;
	default:
		*err = "unknown record type";
		return false;
	}
	/* ITEM, DELETE, TOUCH: a key, and the lengths must add up exactly.
	 * The key sits at the end of the fixed part, the value after it. */
	if (m->nkey == 0 || m->nkey > KEY_MAX_LENGTH) {
		*err = "bad key length";
		return false;
	}
	if (want != blen) {
		*err = "body length does not match fields";
		return false;
	}
	/* Keys are length-delimited: any 1..250 bytes the store holds (the
	 * binary protocol and meta base64 keys allow any byte) must pass. */
	m->key = (const char *)p + (want - m->nkey - m->nbytes);
	if (m->type == REPL_ITEM)
		m->value = m->key + m->nkey;
	return true;
}

/* Decodes one record from p[0..len): returns its length, 0 if incomplete,
 * -1 if malformed (with *err set). Errors that the header alone shows (an
 * unknown type, a body over max_body or of a length the type cannot have)
 * are reported before the body arrives. Reads nothing past p + len. */
long
repl_decode(const uint8_t *p, size_t len, size_t max_body, struct repl_msg *m,
            const char **err)
{
	const char *dummy;
	uint32_t blen;
	uint8_t type;

	if (err == NULL)
		err = &dummy;
	memset(m, 0, sizeof(*m));
	if (len == 0)
		return 0;
	type = p[0];
	if (type == 0 || type >= REPL_TYPE_MAX) {
		*err = "unknown record type";
		return -1;
	}
	if (len < REPL_HDR_LEN)
		return 0;
	blen = util_get_be32(p + 1);
	if (blen > max_body) {
		*err = "body too long";
		return -1;
	}
#if LONG_MAX <= UINT32_MAX
	if (blen > LONG_MAX - REPL_HDR_LEN) { /* the length must fit a long */
		*err = "body too long";
		return -1;
	}
#endif
	if (blen < types[type].min_body ||
	    (types[type].fixed && blen != types[type].min_body)) {
		*err = "bad body length for type";
		return -1;
	}
	if (len - REPL_HDR_LEN < blen)
		return 0;
	m->type = (enum repl_type)type;
	m->len = REPL_HDR_LEN + (size_t)blen;
	if (!decode_body(p + REPL_HDR_LEN, blen, m, err))
		return -1;
	return (long)m->len;
}

/* Returns digest i of a decoded DIGEST record. */
uint64_t
repl_msg_digest(const struct repl_msg *m, uint32_t i)
{
	assert(m->type == REPL_DIGEST && i < m->hi - m->lo);
	return util_get_be64(m->digests + (size_t)i * DIGEST_LEN);
}

/* Returns the record type's name, "UNKNOWN" for a value that is none. */
const char *
repl_type_name(enum repl_type t)
{
	if ((unsigned)t == 0 || (unsigned)t >= REPL_TYPE_MAX)
		return "UNKNOWN";
	return types[t].name;
}
