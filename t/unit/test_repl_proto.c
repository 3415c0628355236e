/* test_repl_proto.c: unit tests for the replication wire format. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "repl_proto.h"

#define MAXB (1u << 20) /* max_body used by the tests */

/* A deterministic generator (xorshift64*), so failures are reproducible. */
static uint64_t rng_state;

/* Returns the next pseudo-random number. */
static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Builds an item the way the store lays it out, without the store. */
static item *
mk_item(const char *key, const void *val, uint32_t nbytes)
{
	size_t nkey = strlen(key);
	item *it = calloc(1, sizeof(item) + nkey + nbytes);

	ck_assert_ptr_nonnull(it);
	it->nkey = (uint8_t)nkey;
	it->nbytes = nbytes;
	memcpy(ITEM_key(it), key, nkey);
	if (nbytes > 0)
		memcpy(ITEM_value(it), val, nbytes);
	return it;
}

/* Returns a malloc'd copy of exactly len bytes, so ASan and valgrind see
 * any read past the end. */
static uint8_t *
exact(const uint8_t *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(p);
	if (len > 0)
		memcpy(p, src, len);
	return p;
}

/* Decodes src[0..len) from an exact-size copy and checks the result is in
 * range; returns it. */
static long
dec_exact(const uint8_t *src, size_t len, size_t max_body)
{
	struct repl_msg m;
	const char *err = NULL;
	uint8_t *p = exact(src, len);
	long r = repl_decode(p, len, max_body, &m, &err);

	ck_assert(r >= -1 && r <= (long)len);
	if (r == -1)
		ck_assert_ptr_nonnull(err);
	if (r > 0)
		ck_assert_uint_eq(m.len, (size_t)r);
	free(p);
	return r;
}

/* Encodes one record of every type into b; returns how many. */
static int
encode_one_of_each(struct repl_buf *b)
{
	struct repl_hello h = {REPL_MAGIC, 1, 7, 11, 12, 13, 3, {0}};
	uint8_t mac[REPL_MAC_LEN];
	uint64_t dg[3] = {1, 2, 3};
	item *it = mk_item("k1", "value", 5);

	memset(h.nonce, 0xab, sizeof(h.nonce));
	memset(mac, 0xcd, sizeof(mac));
	it->version = 99;
	repl_encode_hello(b, &h);
	repl_encode_auth(b, mac);
	repl_encode_item(b, it);
	repl_encode_delete(b, "k2", 2, 5, 1, 6);
	repl_encode_touch(b, "k3", 2, 1000, 7, 2);
	repl_encode_flush(b, 0, 8, 1);
	repl_encode_u64(b, REPL_COPY_BEGIN, 1);
	repl_encode_u64(b, REPL_COPY_END, 2);
	repl_encode_u64(b, REPL_PING, 3);
	repl_encode_u64(b, REPL_ACK, 4);
	repl_encode_digest(b, REPL_DIGEST_REQ, 16, 0, 3, NULL, 0);
	repl_encode_digest(b, REPL_DIGEST, 16, 0, 3, dg, 3);
	repl_encode_digest(b, REPL_RANGE_REQ, 16, 2, 3, NULL, 0);
	repl_encode_digest(b, REPL_RANGE_END, 16, 2, 3, NULL, 0);
	free(it);
	return REPL_TYPE_MAX - 1;
}

START_TEST(test_hello_roundtrip)
{
	struct repl_buf b = {0};
	struct repl_hello h = {REPL_MAGIC,
	                       REPL_PROTO_VERSION,
	                       0x0102,
	                       0x1122334455667788ULL,
	                       0x99aabbccddeeff00ULL,
	                       0xfedcba9876543210ULL,
	                       REPL_HELLO_SYNC | REPL_HELLO_AUTH,
	                       {0}};
	struct repl_msg m;
	const char *err = NULL;
	uint8_t *p;
	int i;

	for (i = 0; i < REPL_NONCE_LEN; i++)
		h.nonce[i] = (uint8_t)(i * 7 + 1);
	ck_assert_uint_eq(repl_encode_hello(&b, &h), 73);
	ck_assert_uint_eq(b.len, 73);
	/* header and the magic, byte by byte */
	ck_assert_mem_eq(b.data, "\x01\x00\x00\x00\x44RPC1\x00\x02\x01\x02",
	                 13);
	p = exact(b.data, b.len);
	ck_assert_int_eq(repl_decode(p, b.len, MAXB, &m, &err), 73);
	ck_assert_int_eq(m.type, REPL_HELLO);
	ck_assert_uint_eq(m.len, 73);
	ck_assert_uint_eq(m.hello.magic, REPL_MAGIC);
	ck_assert_uint_eq(m.hello.version, REPL_PROTO_VERSION);
	ck_assert_uint_eq(m.hello.node_id, 0x0102);
	ck_assert_uint_eq(m.hello.run_id, 0x1122334455667788ULL);
	ck_assert_uint_eq(m.hello.peer_run_id, 0x99aabbccddeeff00ULL);
	ck_assert_uint_eq(m.hello.resume_offset, 0xfedcba9876543210ULL);
	ck_assert_uint_eq(m.hello.flags, 3);
	ck_assert_mem_eq(m.hello.nonce, h.nonce, REPL_NONCE_LEN);
	free(p);
	repl_buf_free(&b);
}
END_TEST

START_TEST(test_auth_roundtrip)
{
	struct repl_buf b = {0};
	uint8_t mac[REPL_MAC_LEN];
	struct repl_msg m;
	const char *err = NULL;
	int i;

	for (i = 0; i < REPL_MAC_LEN; i++)
		mac[i] = (uint8_t)(255 - i);
	ck_assert_uint_eq(repl_encode_auth(&b, mac), 37);
	ck_assert_mem_eq(b.data, "\x02\x00\x00\x00\x20", 5);
	ck_assert_int_eq(repl_decode(b.data, b.len, MAXB, &m, &err), 37);
	ck_assert_int_eq(m.type, REPL_AUTH);
	ck_assert_mem_eq(m.mac, mac, REPL_MAC_LEN);
	repl_buf_free(&b);
}
END_TEST

/* The exact bytes of an ITEM, as documented in doc/replication.md. */
START_TEST(test_item_wire_bytes)
{
	static const uint8_t want[] = {
	    0x03, 0x00, 0x00, 0x00, 0x25,                   /* ITEM, 37 */
	    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* version */
	    0x00, 0x02,                                     /* origin */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, /* cas */
	    0xde, 0xad, 0xbe, 0xef,                         /* flags */
	    0x65, 0x00, 0x00, 0x01,                         /* exptime */
	    0x02,                                           /* nkey */
	    0x00, 0x00, 0x00, 0x03,                         /* nbytes */
	    0x00,                                           /* iflags */
	    'a',  'b',  'x',  '\r', '\n'};
	struct repl_buf b = {0};
	item *it = mk_item("ab", "x\r\n", 3);

	it->version = 0x0102030405060708ULL;
	it->origin = 2;
	it->cas = 256;
	it->flags = 0xdeadbeef;
	it->exptime = 0x65000001;
	ck_assert_uint_eq(repl_encode_item(&b, it), sizeof(want));
	ck_assert_uint_eq(b.len, sizeof(want));
	ck_assert_mem_eq(b.data, want, sizeof(want));
	free(it);
	repl_buf_free(&b);
}
END_TEST

START_TEST(test_item_roundtrip)
{
	struct repl_buf b = {0};
	char key[251], val[1000];
	struct repl_msg m;
	const char *err = NULL;
	item *it;
	uint8_t *p;
	size_t i;

	memset(key, 'k', 250);
	key[250] = '\0';
	for (i = 0; i < sizeof(val); i++)
		val[i] = (char)(i & 0xff); /* binary, with NULs and CR LF */
	it = mk_item(key, val, sizeof(val));
	it->version = UINT64_MAX;
	it->origin = UINT16_MAX;
	it->cas = 0x8000000000000001ULL;
	it->flags = UINT32_MAX;
	it->exptime = 1700000000;
	ck_assert_uint_eq(repl_encode_item(&b, it), 5 + 32 + 250 + 1000);
	p = exact(b.data, b.len);
	ck_assert_int_eq(repl_decode(p, b.len, MAXB, &m, &err), (long)b.len);
	ck_assert_int_eq(m.type, REPL_ITEM);
	ck_assert_uint_eq(m.version, UINT64_MAX);
	ck_assert_uint_eq(m.origin, UINT16_MAX);
	ck_assert_uint_eq(m.cas, 0x8000000000000001ULL);
	ck_assert_uint_eq(m.flags, UINT32_MAX);
	ck_assert_uint_eq(m.exptime, 1700000000);
	ck_assert_uint_eq(m.nkey, 250);
	ck_assert_mem_eq(m.key, key, 250);
	ck_assert_uint_eq(m.nbytes, 1000);
	ck_assert_mem_eq(m.value, val, 1000);
	ck_assert_ptr_eq(m.key, (const char *)p + 5 + 32);
	free(p);
	free(it);
	repl_buf_free(&b);

	/* an empty value */
	it = mk_item("e", NULL, 0);
	it->cas = 5;
	it->iflags = ITEM_STALE | ITEM_TOKEN | ITEM_LINKED | ITEM_ACTIVE;
	ck_assert_uint_eq(repl_encode_item(&b, it), 38);
	p = exact(b.data, b.len);
	ck_assert_int_eq(repl_decode(p, b.len, MAXB, &m, &err), 38);
	ck_assert_uint_eq(m.nbytes, 0);
	/* only the meta state bits travel */
	ck_assert_uint_eq(m.iflags, ITEM_STALE | ITEM_TOKEN);
	ck_assert_uint_eq(m.nkey, 1);
	ck_assert_int_eq(m.key[0], 'e');
	ck_assert_uint_eq(m.cas, 5);
	free(p);
	free(it);
	repl_buf_free(&b);
}
END_TEST

START_TEST(test_delete_touch_flush_roundtrip)
{
	struct repl_buf b = {0};
	struct repl_msg m;
	const char *err = NULL;
	long r;

	ck_assert_uint_eq(
	    repl_encode_delete(&b, "foo", 3, 0xa1a2a3a4a5a6a7a8ULL, 513, 77),
	    5 + 19 + 3);
	r = repl_decode(b.data, b.len, MAXB, &m, &err);
	ck_assert_int_eq(r, 27);
	ck_assert_int_eq(m.type, REPL_DELETE);
	ck_assert_uint_eq(m.version, 0xa1a2a3a4a5a6a7a8ULL);
	ck_assert_uint_eq(m.origin, 513);
	ck_assert_uint_eq(m.cas, 77);
	ck_assert_uint_eq(m.nkey, 3);
	ck_assert_mem_eq(m.key, "foo", 3);
	ck_assert_ptr_null(m.value);
	repl_buf_consume(&b, (size_t)r);

	ck_assert_uint_eq(
	    repl_encode_touch(&b, "barbaz", 6, 1800000000u, 42, 3), 5 + 15 + 6);
	r = repl_decode(b.data, b.len, MAXB, &m, &err);
	ck_assert_int_eq(r, 26);
	ck_assert_int_eq(m.type, REPL_TOUCH);
	ck_assert_uint_eq(m.version, 42);
	ck_assert_uint_eq(m.origin, 3);
	ck_assert_uint_eq(m.exptime, 1800000000u);
	ck_assert_uint_eq(m.nkey, 6);
	ck_assert_mem_eq(m.key, "barbaz", 6);
	repl_buf_consume(&b, (size_t)r);

	ck_assert_uint_eq(repl_encode_flush(&b, 1234567, 43, 4), 5 + 14);
	r = repl_decode(b.data, b.len, MAXB, &m, &err);
	ck_assert_int_eq(r, 19);
	ck_assert_int_eq(m.type, REPL_FLUSH);
	ck_assert_uint_eq(m.when, 1234567);
	ck_assert_uint_eq(m.version, 43);
	ck_assert_uint_eq(m.origin, 4);
	repl_buf_consume(&b, (size_t)r);
	ck_assert_uint_eq(b.len, 0);

	/* any key bytes travel: control characters (text keys), a space and
	 * a NUL (binary protocol keys) */
	ck_assert_uint_eq(
	    repl_encode_delete(&b, "\x00\x01 \x7f\xff", 5, 9, 1, 0),
	    5 + 19 + 5);
	r = repl_decode(b.data, b.len, MAXB, &m, &err);
	ck_assert_int_eq(r, 29);
	ck_assert_uint_eq(m.nkey, 5);
	ck_assert_mem_eq(m.key, "\x00\x01 \x7f\xff", 5);
	repl_buf_consume(&b, (size_t)r);

	/* encoders refuse keys that cannot be sent */
	ck_assert_uint_eq(repl_encode_delete(&b, "", 0, 1, 1, 1), 0);
	ck_assert_uint_eq(repl_encode_touch(&b, "x", 251, 1, 1, 1), 0);
	ck_assert_uint_eq(b.len, 0);
	repl_buf_free(&b);
}
END_TEST

START_TEST(test_u64_roundtrip)
{
	static const enum repl_type t[] = {REPL_COPY_BEGIN, REPL_COPY_END,
	                                   REPL_PING, REPL_ACK};
	struct repl_buf b = {0};
	struct repl_msg m;
	const char *err = NULL;
	size_t i;

	for (i = 0; i < 4; i++) {
		uint64_t v = 0x0123456789abcdefULL + i;

		ck_assert_uint_eq(repl_encode_u64(&b, t[i], v), 13);
		ck_assert_uint_eq(b.data[0], t[i]);
		ck_assert_int_eq(repl_decode(b.data, b.len, MAXB, &m, &err),
		                 13);
		ck_assert_int_eq(m.type, t[i]);
		ck_assert_uint_eq(m.offset, v);
		ck_assert_uint_eq(m.count, v);
		repl_buf_consume(&b, 13);
	}
	ck_assert_uint_eq(repl_encode_u64(&b, REPL_ITEM, 1), 0);
	ck_assert_uint_eq(repl_encode_u64(&b, REPL_TYPE_MAX, 1), 0);
	ck_assert_uint_eq(b.len, 0);
	repl_buf_free(&b);
}
END_TEST

START_TEST(test_digest_roundtrip)
{
	static const enum repl_type t[] = {REPL_DIGEST_REQ, REPL_RANGE_REQ,
	                                   REPL_RANGE_END};
	uint64_t dg[4] = {0, UINT64_MAX, 0x1122334455667788ULL, 9};
	struct repl_buf b = {0};
	struct repl_msg m;
	const char *err = NULL;
	uint8_t *p;
	size_t i;

	ck_assert_uint_eq(
	    repl_encode_digest(&b, REPL_DIGEST, 1024, 100, 104, dg, 4),
	    5 + 12 + 32);
	p = exact(b.data, b.len);
	ck_assert_int_eq(repl_decode(p, b.len, MAXB, &m, &err), 49);
	ck_assert_int_eq(m.type, REPL_DIGEST);
	ck_assert_uint_eq(m.parts, 1024);
	ck_assert_uint_eq(m.lo, 100);
	ck_assert_uint_eq(m.hi, 104);
	ck_assert_ptr_eq(m.digests, p + 17);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(repl_msg_digest(&m, (uint32_t)i), dg[i]);
	free(p);
	repl_buf_consume(&b, b.len);

	/* an empty range is allowed */
	ck_assert_uint_eq(repl_encode_digest(&b, REPL_DIGEST, 8, 8, 8, NULL, 0),
	                  17);
	ck_assert_int_eq(repl_decode(b.data, b.len, MAXB, &m, &err), 17);
	ck_assert_uint_eq(m.lo, 8);
	ck_assert_uint_eq(m.hi, 8);
	repl_buf_consume(&b, b.len);

	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(repl_encode_digest(&b, t[i], 0xffffffffu, 7,
		                                     0xfffffff0u, NULL, 0),
		                  17);
		ck_assert_int_eq(repl_decode(b.data, b.len, MAXB, &m, &err),
		                 17);
		ck_assert_int_eq(m.type, t[i]);
		ck_assert_uint_eq(m.parts, 0xffffffffu);
		ck_assert_uint_eq(m.lo, 7);
		ck_assert_uint_eq(m.hi, 0xfffffff0u);
		ck_assert_ptr_null(m.digests);
		repl_buf_consume(&b, b.len);
	}

	/* encoder refusals */
	ck_assert_uint_eq(repl_encode_digest(&b, REPL_DIGEST, 16, 0, 3, dg, 4),
	                  0);
	ck_assert_uint_eq(
	    repl_encode_digest(&b, REPL_DIGEST_REQ, 16, 0, 3, dg, 3), 0);
	ck_assert_uint_eq(
	    repl_encode_digest(&b, REPL_RANGE_REQ, 16, 4, 3, NULL, 0), 0);
	ck_assert_uint_eq(
	    repl_encode_digest(&b, REPL_RANGE_REQ, 16, 4, 17, NULL, 0), 0);
	ck_assert_uint_eq(
	    repl_encode_digest(&b, REPL_RANGE_REQ, 0, 0, 0, NULL, 0), 0);
	ck_assert_uint_eq(repl_encode_digest(&b, REPL_PING, 16, 0, 1, NULL, 0),
	                  0);
	ck_assert_uint_eq(b.len, 0);
	repl_buf_free(&b);
}
END_TEST

START_TEST(test_encode_mutation)
{
	struct repl_buf b1 = {0}, b2 = {0};
	struct mutation mu;
	struct repl_msg m;
	const char *err = NULL;
	item *it = mk_item("mkey", "12345", 5);

	it->version = 10;
	it->origin = 1;
	it->cas = 20;
	it->flags = 30;
	it->exptime = 40;
	memset(&mu, 0, sizeof(mu));
	mu.type = MUT_ITEM;
	mu.it = it;
	ck_assert_uint_eq(repl_encode_mutation(&b1, &mu),
	                  repl_encode_item(&b2, it));
	ck_assert_int_eq(repl_decode(b1.data, b1.len, MAXB, &m, &err),
	                 5 + 32 + 4 + 5);
	ck_assert_int_eq(m.type, REPL_ITEM);
	ck_assert_uint_eq(m.flags, 30);

	memset(&mu, 0, sizeof(mu));
	mu.type = MUT_DELETE;
	mu.key = "dk";
	mu.nkey = 2;
	mu.cas = 3;
	mu.version = 4;
	mu.origin = 5;
	mu.exptime = 6; /* ignored */
	ck_assert_uint_eq(repl_encode_mutation(&b1, &mu),
	                  repl_encode_delete(&b2, "dk", 2, 4, 5, 3));

	memset(&mu, 0, sizeof(mu));
	mu.type = MUT_TOUCH;
	mu.key = "tk";
	mu.nkey = 2;
	mu.exptime = 7;
	mu.version = 8;
	mu.origin = 9;
	ck_assert_uint_eq(repl_encode_mutation(&b1, &mu),
	                  repl_encode_touch(&b2, "tk", 2, 7, 8, 9));

	memset(&mu, 0, sizeof(mu));
	mu.type = MUT_FLUSH;
	mu.when = 11;
	mu.version = 12;
	mu.origin = 13;
	ck_assert_uint_eq(repl_encode_mutation(&b1, &mu),
	                  repl_encode_flush(&b2, 11, 12, 13));

	mu.type = (enum mutation_type)99;
	ck_assert_uint_eq(repl_encode_mutation(&b1, &mu), 0);

	ck_assert_uint_eq(b1.len, b2.len);
	ck_assert_mem_eq(b1.data, b2.data, b1.len);
	free(it);
	repl_buf_free(&b1);
	repl_buf_free(&b2);
}
END_TEST

/* Every proper prefix of every record type is "incomplete". */
START_TEST(test_prefixes_incomplete)
{
	struct repl_buf b = {0};
	struct repl_msg m;
	const char *err = NULL;
	size_t off = 0;
	int n = encode_one_of_each(&b), seen = 0;

	while (off < b.len) {
		long r = repl_decode(b.data + off, b.len - off, MAXB, &m, &err);
		size_t k;

		ck_assert_int_gt(r, 0);
		for (k = 0; k < (size_t)r; k++)
			ck_assert_int_eq(dec_exact(b.data + off, k, MAXB), 0);
		ck_assert_int_eq(dec_exact(b.data + off, (size_t)r, MAXB), r);
		/* max_body exactly the body is fine, one less is not */
		ck_assert_int_eq(
		    dec_exact(b.data + off, (size_t)r, (size_t)r - 5), r);
		ck_assert_int_eq(
		    dec_exact(b.data + off, (size_t)r, (size_t)r - 6), -1);
		off += (size_t)r;
		seen++;
	}
	ck_assert_int_eq(seen, n);
	repl_buf_free(&b);
}
END_TEST

/* Every single-byte corruption of the header (and of every body byte) of
 * every record: a bounded result, never a read out of bounds. */
START_TEST(test_corrupt_every_byte)
{
	struct repl_buf b = {0};
	struct repl_msg m;
	const char *err = NULL;
	size_t off = 0;
	long counts[3] = {0, 0, 0};

	encode_one_of_each(&b);
	while (off < b.len) {
		long r = repl_decode(b.data + off, b.len - off, MAXB, &m, &err);
		uint8_t *rec = exact(b.data + off, (size_t)r);
		size_t i;
		int v;

		for (i = 0; i < (size_t)r; i++) {
			uint8_t orig = rec[i];

			for (v = 0; v < 256; v++) {
				long x;

				if (v == orig)
					continue;
				rec[i] = (uint8_t)v;
				x = dec_exact(rec, (size_t)r, MAXB);
				counts[x < 0 ? 0 : x == 0 ? 1 : 2]++;
				/* a bigger length in the header is either
				 * incomplete or rejected, never accepted */
				if (i >= 1 && i < 5 && v > orig)
					ck_assert_int_le(x, 0);
			}
			rec[i] = orig;
		}
		free(rec);
		off += (size_t)r;
	}
	/* every outcome happens */
	ck_assert_int_gt(counts[0], 0);
	ck_assert_int_gt(counts[1], 0);
	ck_assert_int_gt(counts[2], 0);
	repl_buf_free(&b);
}
END_TEST

/* Builds a record from a raw header and body. */
static size_t
raw(uint8_t *out, uint8_t type, uint32_t blen, const void *body, size_t n)
{
	out[0] = type;
	out[1] = (uint8_t)(blen >> 24);
	out[2] = (uint8_t)(blen >> 16);
	out[3] = (uint8_t)(blen >> 8);
	out[4] = (uint8_t)blen;
	memcpy(out + 5, body, n);
	return 5 + n;
}

/* Decodes a record that must be rejected with the given reason. */
static void
expect_bad(const uint8_t *rec, size_t len, size_t max_body, const char *why)
{
	struct repl_msg m;
	const char *err = NULL;
	uint8_t *p = exact(rec, len);

	ck_assert_int_eq(repl_decode(p, len, max_body, &m, &err), -1);
	ck_assert_ptr_nonnull(err);
	ck_assert_str_eq(err, why);
	free(p);
}

START_TEST(test_malformed)
{
	uint8_t rec[600], body[600];
	struct repl_buf b = {0};
	item *it;
	size_t n;

	memset(body, 0, sizeof(body));
	/* unknown types, seen from the first byte */
	expect_bad((const uint8_t *)"\x00", 1, MAXB, "unknown record type");
	expect_bad((const uint8_t *)"\x0f\x00\x00\x00\x08", 5, MAXB,
	           "unknown record type");
	expect_bad((const uint8_t *)"\xff", 1, MAXB, "unknown record type");
	/* a body over max_body is refused from the header alone */
	expect_bad((const uint8_t *)"\x03\x00\x00\x10\x01", 5, 4096,
	           "body too long");
	expect_bad((const uint8_t *)"\x03\xff\xff\xff\xff", 5, MAXB,
	           "body too long");
	/* fixed-size types with another size */
	expect_bad((const uint8_t *)"\x09\x00\x00\x00\x07", 5, MAXB,
	           "bad body length for type");
	expect_bad((const uint8_t *)"\x09\x00\x00\x00\x09", 5, MAXB,
	           "bad body length for type");
	expect_bad((const uint8_t *)"\x01\x00\x00\x00\x43", 5, MAXB,
	           "bad body length for type");
	expect_bad((const uint8_t *)"\x02\x00\x00\x00\x21", 5, MAXB,
	           "bad body length for type");
	/* a variable type below its fixed part */
	expect_bad((const uint8_t *)"\x03\x00\x00\x00\x1e", 5, MAXB,
	           "bad body length for type");
	expect_bad((const uint8_t *)"\x0c\x00\x00\x00\x0b", 5, MAXB,
	           "bad body length for type");

	/* HELLO with a bad magic */
	memcpy(body, "RPC2", 4);
	n = raw(rec, REPL_HELLO, 68, body, 68);
	expect_bad(rec, n, MAXB, "bad HELLO magic");

	/* ITEM: nkey 0 */
	it = mk_item("abc", "v", 1);
	repl_encode_item(&b, it);
	memcpy(rec, b.data, b.len);
	rec[5 + 26] = 0;
	expect_bad(rec, b.len, MAXB, "bad key length");
	/* nkey 251 (body long enough for it) */
	memset(body, 'a', sizeof(body));
	memset(body, 0, 32);
	body[26] = 251;
	n = raw(rec, REPL_ITEM, 32 + 251, body, 32 + 251);
	expect_bad(rec, n, MAXB, "bad key length");
	/* nbytes one too many, one too few */
	memcpy(rec, b.data, b.len);
	rec[5 + 30] = 2;
	expect_bad(rec, b.len, MAXB, "body length does not match fields");
	rec[5 + 30] = 0;
	expect_bad(rec, b.len, MAXB, "body length does not match fields");
	/* nbytes huge (the sum must not wrap) */
	rec[5 + 27] = rec[5 + 28] = rec[5 + 29] = rec[5 + 30] = 0xff;
	expect_bad(rec, b.len, MAXB, "body length does not match fields");
	/* keys are length-delimited: a space, a control character, DEL or
	 * NUL in a key is accepted (binary and meta base64 keys allow them) */
	memcpy(rec, b.data, b.len);
	{
		static const char odd[] = {' ', '\n', 0x7f, 0};
		size_t k;
		for (k = 0; k < sizeof(odd); k++) {
			struct repl_msg om;
			const char *oerr = NULL;
			rec[5 + 32 + 1] = odd[k];
			ck_assert_int_eq(
			    repl_decode(rec, b.len, MAXB, &om, &oerr),
			    (long)b.len);
			ck_assert_int_eq(om.key[1], odd[k]);
		}
	}
	/* unknown item flag bits are a corrupt record */
	memcpy(rec, b.data, b.len);
	rec[5 + 31] = 0x01;
	expect_bad(rec, b.len, MAXB, "bad item flags");
	rec[5 + 31] = 0x80;
	expect_bad(rec, b.len, MAXB, "bad item flags");
	/* header length one more than the fields: trailing garbage */
	memcpy(rec, b.data, b.len);
	rec[4]++;
	rec[b.len] = 'z';
	expect_bad(rec, b.len + 1, MAXB, "body length does not match fields");
	repl_buf_consume(&b, b.len);
	free(it);

	/* DELETE and TOUCH key checks */
	repl_encode_delete(&b, "abc", 3, 1, 1, 1);
	memcpy(rec, b.data, b.len);
	rec[5 + 18] = 4;
	expect_bad(rec, b.len, MAXB, "body length does not match fields");
	rec[5 + 18] = 0;
	expect_bad(rec, b.len, MAXB, "bad key length");
	rec[5 + 18] = 3;
	rec[5 + 19] = '\t';
	{
		struct repl_msg dm;
		const char *derr = NULL;
		ck_assert_int_eq(repl_decode(rec, b.len, MAXB, &dm, &derr),
		                 (long)b.len);
	}
	repl_buf_consume(&b, b.len);
	repl_encode_touch(&b, "abc", 3, 1, 1, 1);
	memcpy(rec, b.data, b.len);
	rec[5 + 14] = 2;
	expect_bad(rec, b.len, MAXB, "body length does not match fields");
	repl_buf_consume(&b, b.len);

	/* DIGEST: count does not match hi - lo; bad ranges */
	memset(body, 0, sizeof(body));
	body[3] = 16; /* parts */
	body[11] = 2; /* hi: two digests wanted */
	n = raw(rec, REPL_DIGEST, 12 + 8, body, 12 + 8);
	expect_bad(rec, n, MAXB, "digest count does not match range");
	n = raw(rec, REPL_DIGEST, 12 + 24, body, 12 + 24);
	expect_bad(rec, n, MAXB, "digest count does not match range");
	n = raw(rec, REPL_DIGEST, 12 + 17, body, 12 + 17);
	expect_bad(rec, n, MAXB, "digest count does not match range");
	n = raw(rec, REPL_DIGEST, 12 + 16, body, 12 + 16);
	ck_assert_int_eq(dec_exact(rec, n, MAXB), 33);
	body[7] = 3; /* lo > hi */
	n = raw(rec, REPL_RANGE_REQ, 12, body, 12);
	expect_bad(rec, n, MAXB, "bad bucket range");
	body[7] = 0;
	body[11] = 17; /* hi > parts */
	n = raw(rec, REPL_DIGEST_REQ, 12, body, 12);
	expect_bad(rec, n, MAXB, "bad bucket range");
	memset(body, 0, 12); /* parts 0 */
	n = raw(rec, REPL_RANGE_END, 12, body, 12);
	expect_bad(rec, n, MAXB, "bad bucket range");
	/* hi - lo = 2^32 - 1 digests cannot fit: must not overflow */
	memset(body, 0xff, 12);
	body[4] = body[5] = body[6] = body[7] = 0; /* lo 0 */
	n = raw(rec, REPL_DIGEST, 12 + 8, body, 12 + 8);
	expect_bad(rec, n, MAXB, "digest count does not match range");
	repl_buf_free(&b);
}
END_TEST

/* Records back to back decode in order, also when fed a byte at a time
 * through a repl_buf as a socket reader would. */
START_TEST(test_concatenated)
{
	struct repl_buf b = {0}, in = {0};
	struct repl_msg m;
	const char *err = NULL;
	size_t off = 0, i;
	int t = 1, got = 0;
	long r;

	encode_one_of_each(&b);
	encode_one_of_each(&b);
	while (off < b.len) {
		r = repl_decode(b.data + off, b.len - off, MAXB, &m, &err);
		ck_assert_int_gt(r, 0);
		ck_assert_int_eq(m.type, t);
		if (m.type == REPL_TOUCH) {
			ck_assert_uint_eq(m.exptime, 1000);
			ck_assert_mem_eq(m.key, "k3", 2);
		}
		if (m.type == REPL_ACK)
			ck_assert_uint_eq(m.offset, 4);
		t = t % (REPL_TYPE_MAX - 1) + 1;
		off += (size_t)r;
	}
	ck_assert_uint_eq(off, b.len);

	t = 1;
	for (i = 0; i < b.len; i++) {
		repl_buf_reserve(&in, 1);
		in.data[in.len++] = b.data[i];
		while ((r = repl_decode(in.data, in.len, MAXB, &m, &err)) > 0) {
			ck_assert_int_eq(m.type, t);
			t = t % (REPL_TYPE_MAX - 1) + 1;
			got++;
			repl_buf_consume(&in, (size_t)r);
		}
		ck_assert_int_eq(r, 0);
	}
	ck_assert_int_eq(got, 2 * (REPL_TYPE_MAX - 1));
	ck_assert_uint_eq(in.len, 0);
	repl_buf_free(&b);
	repl_buf_free(&in);
}
END_TEST

/* 100k random inputs, some pure noise, some with a plausible header,
 * some mutated valid records: bounded results, no crash, no bad read. */
START_TEST(test_random_bytes)
{
	struct repl_buf b = {0};
	uint8_t buf[512];
	size_t valid_len;
	int i, ok = 0;

	encode_one_of_each(&b);
	valid_len = b.len;
	rng_state = 0x9e3779b97f4a7c15ULL;
	for (i = 0; i < 100000; i++) {
		size_t len = rng() % sizeof(buf), k;
		int mode = (int)(rng() % 3);

		for (k = 0; k < len; k++)
			buf[k] = (uint8_t)rng();
		if (mode == 1 && len >= 5) {
			uint32_t blen = (uint32_t)(rng() % 80);

			buf[0] = (uint8_t)(1 + rng() % (REPL_TYPE_MAX - 1));
			buf[1] = buf[2] = buf[3] = 0;
			buf[4] = (uint8_t)blen;
		} else if (mode == 2) {
			size_t start = rng() % valid_len, flips = rng() % 4;

			len = valid_len - start < sizeof(buf)
			          ? valid_len - start
			          : sizeof(buf);
			len = rng() % (len + 1);
			memcpy(buf, b.data + start, len);
			for (k = 0; k < flips && len > 0; k++)
				buf[rng() % len] = (uint8_t)rng();
		}
		if (dec_exact(buf, len, 1 + rng() % 1024) > 0)
			ok++;
	}
	ck_assert_int_gt(ok, 0);
	repl_buf_free(&b);
}
END_TEST

START_TEST(test_buf_consume_compact)
{
	struct repl_buf b = {0};
	uint8_t *start;
	size_t i;

	/* a zeroed buffer can be consumed and freed */
	repl_buf_consume(&b, 0);
	ck_assert_ptr_null(b.data);
	repl_buf_free(&b);

	repl_buf_reserve(&b, 100);
	ck_assert_uint_ge(b.cap, 100);
	start = b.data;
	for (i = 0; i < 100; i++)
		b.data[b.len++] = (uint8_t)i;
	/* less than half consumed: just an offset */
	repl_buf_consume(&b, 30);
	ck_assert_ptr_eq(b.data, start + 30);
	ck_assert_uint_eq(b.len, 70);
	ck_assert_uint_eq(b.off, 30);
	ck_assert_uint_eq(b.data[0], 30);
	/* more than half: the rest moves to the front */
	repl_buf_consume(&b, 21);
	ck_assert_ptr_eq(b.data, start);
	ck_assert_uint_eq(b.off, 0);
	ck_assert_uint_eq(b.len, 49);
	for (i = 0; i < 49; i++)
		ck_assert_uint_eq(b.data[i], 51 + i);
	/* everything consumed: back to the front, nothing copied */
	repl_buf_consume(&b, 10);
	repl_buf_consume(&b, 39);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.off, 0);
	ck_assert_ptr_eq(b.data, start);
	repl_buf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len + b.cap + b.off, 0);

	/* growth keeps the pending bytes, also with an offset */
	for (i = 0; i < 10; i++)
		repl_encode_u64(&b, REPL_PING, i);
	repl_buf_consume(&b, 13);
	repl_buf_reserve(&b, 1u << 20);
	ck_assert_uint_ge(b.cap - b.len, 1u << 20);
	ck_assert_uint_eq(b.len, 9 * 13);
	for (i = 0; i < 9; i++) {
		struct repl_msg m;
		const char *err;

		ck_assert_int_eq(repl_decode(b.data, b.len, MAXB, &m, &err),
		                 13);
		ck_assert_uint_eq(m.offset, i + 1);
		repl_buf_consume(&b, 13);
	}
	repl_buf_free(&b);
}
END_TEST

/* The hot path: once the buffer is big enough, encoding does not grow it,
 * and growth is by doubling (few reallocations for many records). */
START_TEST(test_buf_no_realloc_steady)
{
	struct repl_buf b = {0};
	item *it = mk_item("steady", "0123456789", 10);
	uint8_t *data;
	size_t cap, lastcap = 0;
	int i, grows = 0;

	for (i = 0; i < 100000; i++) {
		repl_encode_item(&b, it);
		if (b.cap != lastcap) {
			grows++;
			lastcap = b.cap;
		}
	}
	ck_assert_uint_eq(b.len, 100000u * (5 + 32 + 6 + 10));
	ck_assert_int_le(grows, 15);
	repl_buf_consume(&b, b.len);

	/* a writer that sends part of what is queued each time */
	data = b.data;
	cap = b.cap;
	for (i = 0; i < 100000; i++) {
		repl_encode_item(&b, it);
		if (i % 3 == 2)
			repl_buf_consume(&b, b.len > 100 ? 100 : b.len);
		else if (i % 7 == 0)
			repl_buf_consume(&b, b.len);
	}
	ck_assert_ptr_eq(b.data - b.off, data);
	ck_assert_uint_eq(b.cap + b.off, cap);
	free(it);
	repl_buf_free(&b);
}
END_TEST

START_TEST(test_type_names)
{
	ck_assert_str_eq(repl_type_name(REPL_HELLO), "HELLO");
	ck_assert_str_eq(repl_type_name(REPL_ITEM), "ITEM");
	ck_assert_str_eq(repl_type_name(REPL_COPY_END), "COPY_END");
	ck_assert_str_eq(repl_type_name(REPL_RANGE_END), "RANGE_END");
	ck_assert_str_eq(repl_type_name((enum repl_type)0), "UNKNOWN");
	ck_assert_str_eq(repl_type_name(REPL_TYPE_MAX), "UNKNOWN");
	ck_assert_str_eq(repl_type_name((enum repl_type)200), "UNKNOWN");
}
END_TEST

/* Builds the suite. */
static Suite *
repl_proto_suite(void)
{
	Suite *s = suite_create("repl_proto");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_hello_roundtrip);
	tcase_add_test(tc, test_auth_roundtrip);
	tcase_add_test(tc, test_item_wire_bytes);
	tcase_add_test(tc, test_item_roundtrip);
	tcase_add_test(tc, test_delete_touch_flush_roundtrip);
	tcase_add_test(tc, test_u64_roundtrip);
	tcase_add_test(tc, test_digest_roundtrip);
	tcase_add_test(tc, test_encode_mutation);
	tcase_add_test(tc, test_prefixes_incomplete);
	tcase_add_test(tc, test_corrupt_every_byte);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_concatenated);
	tcase_add_test(tc, test_random_bytes);
	tcase_add_test(tc, test_buf_consume_compact);
	tcase_add_test(tc, test_buf_no_realloc_steady);
	tcase_add_test(tc, test_type_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(repl_proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
