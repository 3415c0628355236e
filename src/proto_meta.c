/* proto_meta.c: memcached's meta commands (mg ms md ma mn me).
 *
 * proto_meta_parse() turns a line into a struct meta_req with exactly the
 * error replies memcached 1.6.18 gives; proto_meta_process() executes the
 * request against the store and formats the reply. Replies follow what
 * memcached 1.6.18 does on the wire, quirks included (they are noted where
 * they matter). */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "proto_meta.h"
#include "stats.h"
#include "store.h"
#include "util.h"

/* Error replies, worded exactly as memcached 1.6.18 words them. */
#define ERR_BAD_TOKEN "CLIENT_ERROR bad token in command line format"
#define ERR_BAD_FORMAT "CLIENT_ERROR bad command line format"
#define ERR_INVALID_OR_DUP "CLIENT_ERROR invalid or duplicate flag"
#define ERR_M_LENGTH "CLIENT_ERROR incorrect length for M token"
#define ERR_INITIAL "CLIENT_ERROR invalid numeric initial value"
#define ERR_DELTA "CLIENT_ERROR invalid numeric delta value"
#define ERR_DECODE "CLIENT_ERROR error decoding key"
#define ERR_INVALID_FLAG "CLIENT_ERROR invalid flag"
#define ERR_DUP_FLAG "CLIENT_ERROR duplicate flag"

#define META_TOKENS_SEEN 24 /* tokens remembered while splitting a line */

struct meta_tok {
	const char *p;
	size_t n;
};

/* Flags that take no token and only change behaviour or add output. */
static const char meta_plain_flags[] = "bcfhklqstuvIOPL";

static int b64_value(unsigned char ch);
static int meta_split(const char *line, size_t len, struct meta_tok *toks);
static bool meta_digits(const char *s, size_t n, uint64_t *out, bool *neg);
static bool meta_strtol(const char *s, size_t n, int32_t *out);
static bool meta_strtoull(const char *s, size_t n, uint64_t *out);
static bool meta_strtoflags(const char *s, size_t n, uint32_t *out);
static const char *meta_parse_flags(struct meta_req *req,
                                    const struct meta_tok *toks, int first,
                                    int ntok, bool *bad_flag);
static void meta_parse_me(struct meta_req *req, const struct meta_tok *toks,
                          int ntok);
static size_t meta_put_key(char *p, const char *key, size_t nkey, bool b64);
static bool meta_key_binary(const struct meta_req *req, const char *key,
                            size_t nkey);
static size_t meta_put_u64(char *p, char flag, uint64_t v);
static size_t meta_put_i64(char *p, char flag, int64_t v);
static int64_t meta_ttl(const item *it);
static size_t meta_put_fail_flags(char *p, const struct meta_req *r);
static void meta_out_fail(conn *c, const struct meta_req *r, const char *code);
static void meta_touch(item **itp, int32_t ttl, bool fetch);
static void meta_mg(conn *c, struct meta_req *r);
static enum proc_result meta_ms(conn *c, struct meta_req *r);
static void meta_ms_done(conn *c);
static void meta_md(conn *c, struct meta_req *r);
static void meta_ma(conn *c, struct meta_req *r);
static void meta_me(conn *c, struct meta_req *r);

/* ------------------------------------------------------------------ */
/* base64 */

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Returns the 6-bit value of a base64 character, 64 for '=', -1 if the
 * character is not in the alphabet. */
static int
b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	if (ch == '=')
		return 64;
	return -1;
}

/* Decodes base64 the way memcached's decoder behaves: characters outside
 * the alphabet are ignored, the number of alphabet characters must be a
 * positive multiple of 4, and decoding ends after the first quantum that
 * holds padding (more than two pads is an error). */
long
proto_meta_b64_decode(const char *src, size_t len, char *dst, size_t dstlen)
{
	size_t i, count = 0, out = 0;
	int quad[4], q = 0, pad = 0;

	for (i = 0; i < len; i++)
		if (b64_value((unsigned char)src[i]) >= 0)
			count++;
	if (count == 0 || count % 4 != 0)
		return -1;
	for (i = 0; i < len; i++) {
		int v = b64_value((unsigned char)src[i]);
		if (v < 0)
			continue;
		if (v == 64) {
			pad++;
			v = 0;
		}
		quad[q++] = v;
		if (q < 4)
			continue;
		if (pad > 2)
			return -1;
		if (out + 3 - (size_t)pad > dstlen)
			return -1;
		dst[out++] = (char)((quad[0] << 2) | (quad[1] >> 4));
		if (pad < 2)
			dst[out++] =
			    (char)(((quad[1] & 0xf) << 4) | (quad[2] >> 2));
		if (pad < 1)
			dst[out++] = (char)(((quad[2] & 0x3) << 6) | quad[3]);
		if (pad > 0)
			break;
		q = 0;
	}
	return (long)out;
}

/* Encodes src as padded base64; returns the number of bytes written. */
size_t
proto_meta_b64_encode(const char *src, size_t len, char *dst)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		dst[o++] = b64_chars[s[i] >> 2];
		dst[o++] = b64_chars[((s[i] & 0x3) << 4) | (s[i + 1] >> 4)];
		dst[o++] = b64_chars[((s[i + 1] & 0xf) << 2) | (s[i + 2] >> 6)];
		dst[o++] = b64_chars[s[i + 2] & 0x3f];
	}
	if (i < len) {
		dst[o++] = b64_chars[s[i] >> 2];
		if (i + 1 < len) {
			dst[o++] =
			    b64_chars[((s[i] & 0x3) << 4) | (s[i + 1] >> 4)];
			dst[o++] = b64_chars[(s[i + 1] & 0xf) << 2];
		} else {
			dst[o++] = b64_chars[(s[i] & 0x3) << 4];
			dst[o++] = '=';
		}
		dst[o++] = '=';
	}
	return o;
}

/* ------------------------------------------------------------------ */
/* parsing */

/* Splits a line on spaces (runs of spaces count as one). Remembers up to
 * META_TOKENS_SEEN tokens; returns the total number of tokens. */
static int
meta_split(const char *line, size_t len, struct meta_tok *toks)
{
	size_t i = 0;
	int n = 0;

	while (i < len) {
		size_t start;
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && line[i] != ' ')
			i++;
		if (n < META_TOKENS_SEEN) {
			toks[n].p = line + start;
			toks[n].n = i - start;
		}
		n++;
	}
	return n;
}

/* Reads the digits of s[0..n) after optional leading white space and one
 * sign, strtoul-style: the digits must end the token or be followed by
 * white space. *neg tells whether a '-' was given; fails on overflow of
 * 64 bits or when there is no digit. */
static bool
meta_digits(const char *s, size_t n, uint64_t *out, bool *neg)
{
	size_t i = 0, d0;
	uint64_t v = 0;

	while (i < n && isspace((unsigned char)s[i]))
		i++;
	*neg = false;
	if (i < n && (s[i] == '+' || s[i] == '-')) {
		*neg = s[i] == '-';
		i++;
	}
	d0 = i;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (i == d0)
		return false;
	if (i < n && !isspace((unsigned char)s[i]))
		return false;
	*out = v;
	return true;
}

/* memcached's safe_strtol: a signed long, then truncated to 32 bits. */
static bool
meta_strtol(const char *s, size_t n, int32_t *out)
{
	uint64_t v;
	bool neg;

	if (!meta_digits(s, n, &v, &neg))
		return false;
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > INT64_MAX)
		return false;
	if (neg)
		v = 0 - v;
	*out = (int32_t)(uint32_t)v;
	return true;
}

/* memcached's safe_strtoull: a negative number is refused unless it wraps
 * to a non-negative value ("-0"). */
static bool
meta_strtoull(const char *s, size_t n, uint64_t *out)
{
	uint64_t v;
	bool neg;

	if (!meta_digits(s, n, &v, &neg))
		return false;
	if (neg)
		v = 0 - v;
	if ((int64_t)v < 0 && memchr(s, '-', n) != NULL)
		return false;
	*out = v;
	return true;
}

/* Client flags: parsed like an unsigned long and truncated to 32 bits. */
static bool
meta_strtoflags(const char *s, size_t n, uint32_t *out)
{
	uint64_t v;

	if (!meta_strtoull(s, n, &v))
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Walks the flag tokens like memcached's flag pre-parser. An unknown or
 * repeated flag stops at once (*bad_flag set); a bad token records its
 * error and parsing goes on, so the last such error is the one reported.
 * Returns NULL when every flag was good. */
static const char *
meta_parse_flags(struct meta_req *req, const struct meta_tok *toks, int first,
                 int ntok, bool *bad_flag)
{
	const char *err = NULL;
	bool failed = false;
	int i;

	*bad_flag = false;
	for (i = first; i < ntok; i++) {
		const char *t = toks[i].p;
		size_t n = toks[i].n;
		unsigned char ch = (unsigned char)t[0];

		if (!(ch >= 'A' && ch <= 'Z') && !(ch >= 'a' && ch <= 'z')) {
			*bad_flag = true;
			return ERR_INVALID_FLAG;
		}
		if (strchr(meta_plain_flags, ch) == NULL &&
		    strchr("NTRFCMJD", ch) == NULL) {
			*bad_flag = true;
			return ERR_INVALID_FLAG;
		}
		if (req->seen & META_BIT(ch)) {
			*bad_flag = true;
			return ERR_DUP_FLAG;
		}
		req->seen |= META_BIT(ch);
		req->order[req->nflags++] = (char)ch;
		switch (ch) {
		case 'N':
		case 'T':
		case 'R': {
			int32_t v;
			if (!meta_strtol(t + 1, n - 1, &v)) {
				err = ERR_BAD_TOKEN;
				failed = true;
			} else if (ch == 'N') {
				req->vivify = v;
			} else if (ch == 'T') {
				req->ttl = v;
			} else {
				req->recache = v;
			}
			break;
		}
		case 'F':
			/* memcached keeps its default message here */
			if (!meta_strtoflags(t + 1, n - 1, &req->cflags))
				failed = true;
			break;
		case 'C':
			if (!meta_strtoull(t + 1, n - 1, &req->cas)) {
				err = ERR_BAD_TOKEN;
				failed = true;
			}
			break;
		case 'M':
			if (n != 2) {
				err = ERR_M_LENGTH;
				failed = true;
			} else {
				req->mode = t[1];
			}
			break;
		case 'J':
			if (!meta_strtoull(t + 1, n - 1, &req->initial)) {
				err = ERR_INITIAL;
				failed = true;
			}
			break;
		case 'D':
			if (!meta_strtoull(t + 1, n - 1, &req->delta)) {
				err = ERR_DELTA;
				failed = true;
			}
			break;
		case 'O':
			req->opaque = t + 1;
			req->nopaque = n - 1;
			break;
		case 'b': {
			long k = proto_meta_b64_decode(
			    req->key, req->nkey, req->dkey, sizeof(req->dkey));
			if (k <= 0) {
				err = ERR_DECODE;
				failed = true;
			} else {
				req->b64 = true;
				req->lkey = req->dkey;
				req->nlkey = (size_t)k;
			}
			break;
		}
		default:
			break;
		}
	}
	if (!failed)
		return NULL;
	return err ? err : ERR_BAD_FORMAT;
}

/* "me <key> [b]": only the first flag is looked at, and only if it is
 * exactly "b". */
static void
meta_parse_me(struct meta_req *req, const struct meta_tok *toks, int ntok)
{
	if (ntok < 2 || toks[1].n > KEY_MAX_LENGTH) {
		req->cmd = META_ERROR;
		req->error = ERR_BAD_FORMAT;
		return;
	}
	if (ntok >= 3 && toks[2].n == 1 && toks[2].p[0] == 'b') {
		long k = proto_meta_b64_decode(req->key, req->nkey, req->dkey,
		                               sizeof(req->dkey));
		if (k <= 0) {
			req->cmd = META_ERROR;
			req->error = ERR_BAD_FORMAT;
			return;
		}
		req->b64 = true;
		req->seen |= META_BIT('b');
		req->lkey = req->dkey;
		req->nlkey = (size_t)k;
	}
}

/* Parses one meta line into req (see proto_meta.h). */
void
proto_meta_parse(const char *line, size_t len, struct meta_req *req)
{
	struct meta_tok toks[META_TOKENS_SEEN];
	const char *err;
	bool bad_flag, generic;
	int ntok, first = 2;

	memset(req, 0, sizeof(*req));
	req->delta = 1;

	ntok = meta_split(line, len, toks);
	if (ntok == 0 || toks[0].n != 2 || toks[0].p[0] != 'm')
		goto unknown;
	switch (toks[0].p[1]) {
	case 'g':
		req->cmd = META_MG;
		break;
	case 's':
		req->cmd = META_MS;
		break;
	case 'd':
		req->cmd = META_MD;
		break;
	case 'a':
		req->cmd = META_MA;
		break;
	case 'n':
		req->cmd = META_MN;
		return;
	case 'e':
		req->cmd = META_ME;
		break;
	default:
		goto unknown;
	}
	if (ntok >= 2) {
		req->key = req->lkey = toks[1].p;
		req->nkey = req->nlkey = toks[1].n;
	}
	if (req->cmd == META_ME) {
		meta_parse_me(req, toks, ntok);
		return;
	}
	if (ntok < 2)
		goto unknown; /* memcached: "ERROR" for a bare mg/ms/md/ma */
	if (req->nkey > KEY_MAX_LENGTH)
		goto bad_format;
	if (req->cmd == META_MS) {
		int32_t vlen;
		if (ntok == 2)
			goto bad_format;
		if (ntok > META_MAX_TOKENS)
			goto too_long;
		/* a signed long truncated to 32 bits, as memcached does */
		if (!meta_strtol(toks[2].p, toks[2].n, &vlen) || vlen < 0 ||
		    vlen > INT32_MAX - 2)
			goto bad_format;
		req->vlen = (uint32_t)vlen;
		first = 3;
	} else if (ntok > META_MAX_TOKENS) {
		goto too_long;
	}

	/* From here on an ms error has a known length: the value is eaten. */
	req->swallow = req->cmd == META_MS;
	generic = req->cmd == META_MD || req->cmd == META_MA;
	err = meta_parse_flags(req, toks, first, ntok, &bad_flag);
	if (err != NULL) {
		req->error = generic ? ERR_INVALID_OR_DUP : err;
		goto fail;
	}
	if (req->mode != 0 && req->cmd == META_MS &&
	    strchr("EAPRS", req->mode) == NULL) {
		req->error = "CLIENT_ERROR invalid mode for ms M token";
		goto fail;
	}
	if (req->mode != 0 && req->cmd == META_MA &&
	    strchr("I+D-", req->mode) == NULL) {
		req->error = "CLIENT_ERROR invalid mode for ma M token";
		goto fail;
	}
	if (req->opaque != NULL && req->nopaque > META_OPAQUE_MAX) {
		req->error = "CLIENT_ERROR opaque token too long";
		goto fail;
	}
	req->swallow = false;
	return;

too_long:
	/* memcached words this one differently for mg */
	req->error = req->cmd == META_MG
	                 ? "CLIENT_ERROR options flags are too long"
	                 : "CLIENT_ERROR options flags too long";
	req->cmd = META_ERROR;
	return;
bad_format:
	req->cmd = META_ERROR;
	req->error = ERR_BAD_FORMAT;
	return;
unknown:
	req->cmd = META_ERROR;
	req->error = "ERROR";
	return;
fail:
	req->cmd = META_ERROR;
}

/* ------------------------------------------------------------------ */
/* reply formatting */

/* True if the key goes back base64 encoded: the request used b, or the
 * key has bytes that cannot travel in a text line. (memcached decides by
 * how the item was stored; see the report in t/e2e/meta.py.) */
static bool
meta_key_binary(const struct meta_req *req, const char *key, size_t nkey)
{
	size_t i;

	if (req != NULL && req->b64)
		return true;
	for (i = 0; i < nkey; i++) {
		unsigned char ch = (unsigned char)key[i];
		if (ch <= ' ' || ch == 0x7f)
			return true;
	}
	return false;
}

/* Writes " k<key>" (and " b" when base64); returns the length. */
static size_t
meta_put_key(char *p, const char *key, size_t nkey, bool b64)
{
	size_t n = 0;

	p[n++] = ' ';
	p[n++] = 'k';
	if (b64) {
		n += proto_meta_b64_encode(key, nkey, p + n);
		p[n++] = ' ';
		p[n++] = 'b';
	} else {
		memcpy(p + n, key, nkey);
		n += nkey;
	}
	return n;
}

/* Writes " <flag><v>"; returns the length. */
static size_t
meta_put_u64(char *p, char flag, uint64_t v)
{
	p[0] = ' ';
	p[1] = flag;
	return 2 + util_u64toa(v, p + 2);
}

/* Writes " <flag><v>" for a signed value; returns the length. */
static size_t
meta_put_i64(char *p, char flag, int64_t v)
{
	size_t n = 2;

	p[0] = ' ';
	p[1] = flag;
	if (v < 0) {
		p[n++] = '-';
		return n + util_u64toa((uint64_t)(-(v + 1)) + 1, p + n);
	}
	return n + util_u64toa((uint64_t)v, p + n);
}

/* Remaining TTL in seconds as meta reports it: -1 for "never". */
static int64_t
meta_ttl(const item *it)
{
	if (it->exptime == 0)
		return -1;
	return (int64_t)it->exptime - (int64_t)current_time;
}

/* Writes " O<opaque>" and/or " k<key>" for a failure code, in request
 * order; returns the length. */
static size_t
meta_put_fail_flags(char *p, const struct meta_req *r)
{
	size_t n = 0;
	int i;

	for (i = 0; i < r->nflags; i++) {
		if (r->order[i] == 'O') {
			p[n++] = ' ';
			p[n++] = 'O';
			memcpy(p + n, r->opaque, r->nopaque);
			n += r->nopaque;
		} else if (r->order[i] == 'k') {
			n +=
			    meta_put_key(p + n, r->lkey, r->nlkey,
			                 meta_key_binary(r, r->lkey, r->nlkey));
		}
	}
	return n;
}

/* Replies "<code><O/k flags>\r\n" for a miss or a failure. */
static void
meta_out_fail(conn *c, const struct meta_req *r, const char *code)
{
	char *p = conn_out_reserve(c, META_LINE_MAX);
	size_t n = strlen(code);

	memcpy(p, code, n);
	n += meta_put_fail_flags(p + n, r);
	p[n++] = '\r';
	p[n++] = '\n';
	conn_out_commit(c, n);
}

/* Replaces *itp with the result of touching its key to `ttl`. */
static void
meta_touch(item **itp, int32_t ttl, bool fetch)
{
	item *it = *itp;
	item *nit =
	    store_touch(ITEM_key(it), it->nkey, util_realtime(ttl), fetch);

	if (nit != NULL) {
		store_release(it);
		*itp = nit;
	}
}

/* ------------------------------------------------------------------ */
/* mg */

/* Meta get: optional vivify, in-order flag output, then the Z/X/W
 * verdict (decided after T has been applied, as memcached does).
 *
 * The plain case is one store_get. With h/l/u/T/N the item is peeked at
 * first (h and l report the state before this request) and the counters
 * are kept the way memcached keeps them: a hit with T counts as a touch,
 * a vivified miss as a get hit. */
static void
meta_mg(conn *c, struct meta_req *r)
{
	bool peek = proto_meta_has(r, 'h') || proto_meta_has(r, 'l') ||
	            proto_meta_has(r, 'u') || proto_meta_has(r, 'T') ||
	            proto_meta_has(r, 'N');
	bool noupdate = proto_meta_has(r, 'u');
	bool created = false, won = false, token, stale, fetched;
	uint32_t atime;
	item *it;
	char *p;
	size_t n;
	int i;

	it =
	    peek ? store_peek(r->lkey, r->nlkey) : store_get(r->lkey, r->nlkey);
	if (!proto_meta_has(r, 'T') || (it == NULL && !proto_meta_has(r, 'N')))
		server_stats.cmd_get++;
	if (it == NULL) {
		if (!proto_meta_has(r, 'N')) {
			if (peek)
				store_stats.get_misses++;
			if (!proto_meta_has(r, 'q'))
				meta_out_fail(c, r, "EN");
			return;
		}
		switch (store_alloc(&it, r->lkey, r->nlkey, 0,
		                    util_realtime(r->vivify), 0)) {
		case STORE_OK:
			break;
		case STORE_TOO_LARGE:
			conn_out_str(
			    c, "SERVER_ERROR object too large for cache\r\n");
			return;
		default:
			conn_out_str(
			    c, "SERVER_ERROR out of memory storing object\r\n");
			return;
		}
		if (store_commit(it, STORE_ADD, 0, NULL) != STORE_OK) {
			store_release(it);
			conn_out_str(
			    c, "SERVER_ERROR out of memory storing object\r\n");
			return;
		}
		store_set_token(it, true);
		if (!proto_meta_has(r, 'T'))
			store_stats.get_hits++;
		created = won = true;
	} else if (noupdate && !proto_meta_has(r, 'T')) {
		store_stats.get_hits++;
	}
	fetched = !created && (it->iflags & ITEM_FETCHED) != 0;
	atime = it->atime;

	p = conn_out_reserve(c, META_LINE_MAX);
	if (proto_meta_has(r, 'v')) {
		memcpy(p, "VA ", 3);
		n = 3 + util_u64toa(it->nbytes, p + 3);
	} else {
		memcpy(p, "HD", 2);
		n = 2;
	}
	for (i = 0; i < r->nflags; i++) {
		switch (r->order[i]) {
		case 'T':
			meta_touch(&it, r->ttl, !noupdate && !created);
			break;
		case 'N':
			/* only matters after a T: N's TTL is the last word */
			if (created && it->exptime != util_realtime(r->vivify))
				meta_touch(&it, r->vivify, false);
			break;
		case 'c':
			n += meta_put_u64(p + n, 'c', it->cas);
			break;
		case 'f':
			n += meta_put_u64(p + n, 'f', it->flags);
			break;
		case 'h':
			n += meta_put_u64(p + n, 'h', fetched ? 1 : 0);
			break;
		case 'l':
			n += meta_put_u64(
			    p + n, 'l',
			    current_time > atime ? current_time - atime : 0);
			break;
		case 's':
			n += meta_put_u64(p + n, 's', it->nbytes);
			break;
		case 't':
			n += meta_put_i64(p + n, 't', meta_ttl(it));
			break;
		case 'k':
			n += meta_put_key(
			    p + n, ITEM_key(it), it->nkey,
			    meta_key_binary(r, ITEM_key(it), it->nkey));
			break;
		case 'O':
			p[n++] = ' ';
			p[n++] = 'O';
			memcpy(p + n, r->opaque, r->nopaque);
			n += r->nopaque;
			break;
		default:
			break;
		}
	}
	stale = (it->iflags & ITEM_STALE) != 0;
	token = false;
	if (!created) {
		if (it->iflags & ITEM_TOKEN) {
			token = true;
		} else if (stale ||
		           (proto_meta_has(r, 'R') && it->exptime != 0 &&
		            meta_ttl(it) < (int64_t)r->recache)) {
			won = true;
			store_set_token(it, true);
		}
	}
	if (token) {
		memcpy(p + n, " Z", 2);
		n += 2;
	}
	if (stale) {
		memcpy(p + n, " X", 2);
		n += 2;
	}
	if (won) {
		memcpy(p + n, " W", 2);
		n += 2;
	}
	p[n++] = '\r';
	p[n++] = '\n';
	conn_out_commit(c, n);
	if (proto_meta_has(r, 'v')) {
		conn_out_value(c, it);
		conn_out(c, "\r\n", 2);
	}
	if (peek && !created && !noupdate && !proto_meta_has(r, 'T')) {
		/* the h/l answers had to be read first; now mark it read */
		item *again = store_get(r->lkey, r->nlkey);
		if (again != NULL)
			store_release(again);
	}
	store_release(it);
}

/* ------------------------------------------------------------------ */
/* ms */

/* c->pend.mflags for ms: the c/k/O output flags in request order, two
 * bits each, then single bits. */
#define MS_OUT_C 1u
#define MS_OUT_K 2u
#define MS_OUT_O 3u
#define MS_OUT_SLOTS 3
#define MS_HAS_C (1u << 8)
#define MS_INVALIDATE (1u << 9)

/* Meta set: parses are done; allocates the item and starts reading the
 * value. The rest happens in meta_ms_done. */
static enum proc_result
meta_ms(conn *c, struct meta_req *r)
{
	struct conn_pending *pd = &c->pend;
	uint32_t seq = 0;
	int i, slot = 0;
	item *it;

	switch (store_alloc(&it, r->lkey, r->nlkey, r->cflags,
	                    util_realtime(r->ttl), r->vlen)) {
	case STORE_OK:
		server_stats.cmd_set++; /* once allocated, as memcached */
		break;
	case STORE_TOO_LARGE:
		conn_out_str(c, "SERVER_ERROR object too large for cache\r\n");
		goto refuse;
	default:
		conn_out_str(c,
		             "SERVER_ERROR out of memory storing object\r\n");
		goto refuse;
	}

	switch (r->mode) {
	case 'E':
		pd->op = STORE_ADD;
		break;
	case 'A':
		pd->op = STORE_APPEND;
		break;
	case 'P':
		pd->op = STORE_PREPEND;
		break;
	case 'R':
		pd->op = STORE_REPLACE;
		break;
	default:
		pd->op = proto_meta_has(r, 'C') ? STORE_CAS : STORE_SET;
		break;
	}
	for (i = 0; i < r->nflags && slot < MS_OUT_SLOTS; i++) {
		uint32_t code = 0;
		if (r->order[i] == 'c')
			code = MS_OUT_C;
		else if (r->order[i] == 'k')
			code = MS_OUT_K;
		else if (r->order[i] == 'O')
			code = MS_OUT_O;
		if (code != 0)
			seq |= code << (2 * slot++);
	}
	if (proto_meta_has(r, 'C'))
		seq |= MS_HAS_C;
	if (proto_meta_has(r, 'I'))
		seq |= MS_INVALIDATE;
	pd->mflags = seq;
	pd->cas = r->cas;
	pd->noreply = proto_meta_has(r, 'q');
	pd->mopaque_len = (uint8_t)r->nopaque;
	if (r->nopaque > 0)
		memcpy(pd->mopaque, r->opaque, r->nopaque);
	pd->mkey_b64 = meta_key_binary(r, r->lkey, r->nlkey);
	if (pd->mkey_b64)
		pd->mkey_len = (uint16_t)proto_meta_b64_encode(
		    r->lkey, r->nlkey, pd->mkey_ret);
	else {
		memcpy(pd->mkey_ret, r->lkey, r->nlkey);
		pd->mkey_len = (uint16_t)r->nlkey;
	}
	conn_read_value(c, it, ITEM_value(it), r->vlen, 2, meta_ms_done);
	return PROC_NREAD;

refuse:
	/* like memcached, a refused ms (any mode) drops the old value too */
	store_delete(r->lkey, r->nlkey, 0);
	conn_swallow(c, (size_t)r->vlen + 2);
	return c->state == CONN_SWALLOW ? PROC_NREAD : PROC_DONE;
}

/* Finishes an ms once its value is in: stores it and replies. */
static void
meta_ms_done(conn *c)
{
	struct conn_pending *pd = &c->pend;
	item *it = c->nread_item;
	enum store_result res;
	uint64_t cas = pd->cas, new_cas = 0;
	bool stale = false, token = false;
	const char *code;
	char *p;
	size_t n;
	int slot;

	if (c->trailer[0] != '\r' || c->trailer[1] != '\n') {
		conn_out_str(c, "CLIENT_ERROR bad data chunk\r\n");
		store_release(it);
		return;
	}
	if ((pd->mflags & MS_HAS_C) && (pd->mflags & MS_INVALIDATE)) {
		/* I: a cas older than the item's still stores, as stale */
		item *cur = store_peek(ITEM_key(it), it->nkey);
		if (cur != NULL) {
			if (cas < cur->cas) {
				/* as memcached: the value changes, but the TTL
				 * and a win token already sent stay */
				cas = cur->cas;
				stale = true;
				token = (cur->iflags & ITEM_TOKEN) != 0;
				it->exptime = cur->exptime;
			}
			store_release(cur);
		}
	}
	res = store_commit(it, pd->op, (pd->mflags & MS_HAS_C) ? cas : 0,
	                   &new_cas);
	if (res == STORE_OK && stale) {
		item *cur = store_peek(ITEM_key(it), it->nkey);
		if (cur != NULL) {
			store_mark_stale(cur, token);
			new_cas = cur->cas;
			store_release(cur);
		}
	}
	switch (res) {
	case STORE_OK:
		code = "HD";
		break;
	case STORE_NOT_STORED:
		code = "NS";
		break;
	case STORE_EXISTS:
		code = "EX";
		break;
	case STORE_NOT_FOUND:
		code = "NF";
		break;
	case STORE_TOO_LARGE:
		conn_out_str(c, "SERVER_ERROR object too large for cache\r\n");
		store_release(it);
		return;
	default:
		conn_out_str(c,
		             "SERVER_ERROR out of memory storing object\r\n");
		store_release(it);
		return;
	}
	if (res == STORE_OK && pd->noreply) {
		store_release(it);
		return;
	}
	p = conn_out_reserve(c, META_LINE_MAX);
	memcpy(p, code, 2);
	n = 2;
	for (slot = 0; slot < MS_OUT_SLOTS; slot++) {
		switch ((pd->mflags >> (2 * slot)) & 3u) {
		case MS_OUT_C:
			n += meta_put_u64(p + n, 'c',
			                  res == STORE_OK ? new_cas : 0);
			break;
		case MS_OUT_K:
			p[n++] = ' ';
			p[n++] = 'k';
			memcpy(p + n, pd->mkey_ret, pd->mkey_len);
			n += pd->mkey_len;
			if (pd->mkey_b64) {
				memcpy(p + n, " b", 2);
				n += 2;
			}
			break;
		case MS_OUT_O:
			p[n++] = ' ';
			p[n++] = 'O';
			memcpy(p + n, pd->mopaque, pd->mopaque_len);
			n += pd->mopaque_len;
			break;
		default:
			break;
		}
	}
	p[n++] = '\r';
	p[n++] = '\n';
	conn_out_commit(c, n);
	store_release(it);
}

/* ------------------------------------------------------------------ */
/* md */

/* Meta delete: delete, or with I mark stale (new cas, token cleared,
 * optional new TTL). */
static void
meta_md(conn *c, struct meta_req *r)
{
	const char *code = "HD";
	item *it;

	if (proto_meta_has(r, 'I')) {
		it = store_peek(r->lkey, r->nlkey);
		if (it == NULL) {
			code = "NF";
		} else if (proto_meta_has(r, 'C') && r->cas != it->cas) {
			code = "EX";
		} else {
			if (proto_meta_has(r, 'T'))
				meta_touch(&it, r->ttl, false);
			store_mark_stale(it, false);
			if (it->iflags & ITEM_TOKEN)
				store_set_token(it, false);
		}
		if (it != NULL)
			store_release(it);
	} else {
		switch (store_delete(r->lkey, r->nlkey,
		                     proto_meta_has(r, 'C') ? r->cas : 0)) {
		case STORE_OK:
			code = "HD";
			break;
		case STORE_EXISTS:
			code = "EX";
			break;
		default:
			code = "NF";
			break;
		}
	}
	if (code[0] == 'H' && proto_meta_has(r, 'q'))
		return;
	meta_out_fail(c, r, code);
}

/* ------------------------------------------------------------------ */
/* ma */

/* Meta arithmetic: incr/decr with optional autovivify, then in-order
 * flag output. */
static void
meta_ma(conn *c, struct meta_req *r)
{
	bool incr = r->mode != 'D' && r->mode != '-';
	bool viv = proto_meta_has(r, 'N'), created = false;
	uint64_t value = 0, cas = 0;
	enum store_result res;
	item *it = NULL;
	char num[24], *p;
	size_t n, nlen;
	int i;

	if (viv) {
		item *cur = store_peek(r->lkey, r->nlkey);
		if (cur != NULL)
			store_release(cur);
		created = cur == NULL;
	}
	res =
	    store_arith(r->lkey, r->nlkey, incr, r->delta, viv, r->initial,
	                util_realtime(r->vivify),
	                proto_meta_has(r, 'C') ? r->cas : 0, &value, &cas, &it);
	switch (res) {
	case STORE_OK:
		break;
	case STORE_NOT_FOUND:
		meta_out_fail(c, r, "NF");
		return;
	case STORE_EXISTS:
		meta_out_fail(c, r, "EX");
		return;
	case STORE_NON_NUMERIC:
		conn_out_str(c, "CLIENT_ERROR cannot increment or decrement "
		                "non-numeric value\r\n");
		return;
	default:
		if (created)
			meta_out_fail(c, r, "NS");
		else
			conn_out_str(c, "SERVER_ERROR out of memory\r\n");
		return;
	}
	/* memcached answers an autovivified ma even under q */
	if (proto_meta_has(r, 'q') && !created) {
		if (it != NULL)
			store_release(it);
		return;
	}
	nlen = util_u64toa(value, num);
	p = conn_out_reserve(c, META_LINE_MAX);
	if (proto_meta_has(r, 'v')) {
		memcpy(p, "VA ", 3);
		n = 3 + util_u64toa(nlen, p + 3);
	} else {
		memcpy(p, "HD", 2);
		n = 2;
	}
	for (i = 0; i < r->nflags; i++) {
		switch (r->order[i]) {
		case 'T':
			if (it != NULL)
				meta_touch(&it, r->ttl, false);
			break;
		case 'N':
			if (created && it != NULL &&
			    it->exptime != util_realtime(r->vivify))
				meta_touch(&it, r->vivify, false);
			break;
		case 't':
			n += meta_put_i64(p + n, 't', it ? meta_ttl(it) : -1);
			break;
		case 'c':
			n += meta_put_u64(p + n, 'c', it ? it->cas : cas);
			break;
		case 'k':
			n +=
			    meta_put_key(p + n, r->lkey, r->nlkey,
			                 meta_key_binary(r, r->lkey, r->nlkey));
			break;
		case 'O':
			p[n++] = ' ';
			p[n++] = 'O';
			memcpy(p + n, r->opaque, r->nopaque);
			n += r->nopaque;
			break;
		default:
			break;
		}
	}
	p[n++] = '\r';
	p[n++] = '\n';
	if (proto_meta_has(r, 'v')) {
		memcpy(p + n, num, nlen);
		n += nlen;
		p[n++] = '\r';
		p[n++] = '\n';
	}
	conn_out_commit(c, n);
	if (it != NULL)
		store_release(it);
}

/* ------------------------------------------------------------------ */
/* me */

/* Meta debug: one human-readable line about an item, without bumping it.
 * memcached prints exp as (now - exptime), so a live item shows a
 * negative number; we print the same. */
static void
meta_me(conn *c, struct meta_req *r)
{
	item *it = store_peek(r->lkey, r->nlkey);
	char *p;
	size_t n;
	int64_t exp;

	/* memcached's cmd_meta counts only this debug command */
	server_stats.cmd_meta++;

	if (it == NULL) {
		conn_out_str(c, "EN\r\n");
		return;
	}
	exp = it->exptime == 0 ? -1
	                       : (int64_t)current_time - (int64_t)it->exptime;
	p = conn_out_reserve(c, META_LINE_MAX);
	memcpy(p, "ME ", 3);
	n = 3;
	if (meta_key_binary(r, ITEM_key(it), it->nkey)) {
		n += proto_meta_b64_encode(ITEM_key(it), it->nkey, p + n);
	} else {
		memcpy(p + n, ITEM_key(it), it->nkey);
		n += it->nkey;
	}
	n += (size_t)snprintf(
	    p + n, META_LINE_MAX - n,
	    " exp=%lld la=%llu cas=%llu fetch=%s cls=%u size=%llu\r\n",
	    (long long)exp,
	    (unsigned long long)(current_time > it->atime
	                             ? current_time - it->atime
	                             : 0),
	    (unsigned long long)it->cas,
	    (it->iflags & ITEM_FETCHED) ? "yes" : "no", (unsigned)it->clsid,
	    (unsigned long long)(sizeof(item) + it->nkey + it->nbytes));
	conn_out_commit(c, n);
	store_release(it);
}

/* ------------------------------------------------------------------ */

/* Handles one meta command line; see proto_meta.h. */
enum proc_result
proto_meta_process(conn *c, const char *line, size_t len)
{
	struct meta_req req;

	proto_meta_parse(line, len, &req);
	switch (req.cmd) {
	case META_ERROR:
		conn_out_str(c, req.error);
		conn_out(c, "\r\n", 2);
		if (req.swallow) {
			conn_swallow(c, (size_t)req.vlen + 2);
			return c->state == CONN_SWALLOW ? PROC_NREAD
			                                : PROC_DONE;
		}
		return PROC_DONE;
	case META_MG:
		meta_mg(c, &req);
		return PROC_DONE;
	case META_MS:
		return meta_ms(c, &req);
	case META_MD:
		meta_md(c, &req);
		return PROC_DONE;
	case META_MA:
		meta_ma(c, &req);
		return PROC_DONE;
	case META_MN:
		conn_out(c, "MN\r\n", 4);
		return PROC_DONE;
	case META_ME:
		meta_me(c, &req);
		return PROC_DONE;
	}
	return PROC_DONE;
}
