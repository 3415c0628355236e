/* test_proto_bin.c: the binary protocol's pure functions: header parsing
 * and validation, response header encoding, status texts. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto_bin.h"

/* Builds a request header into p. */
static void
mkhdr(uint8_t *p, uint8_t magic, uint8_t opcode, uint16_t keylen,
      uint8_t extlen, uint32_t bodylen, uint32_t opaque, uint64_t cas)
{
	int i;

	memset(p, 0, BIN_HEADER_LEN);
	p[0] = magic;
	p[1] = opcode;
	p[2] = (uint8_t)(keylen >> 8);
	p[3] = (uint8_t)keylen;
	p[4] = extlen;
	for (i = 0; i < 4; i++)
		p[8 + i] = (uint8_t)(bodylen >> (24 - 8 * i));
	for (i = 0; i < 4; i++)
		p[12 + i] = (uint8_t)(opaque >> (24 - 8 * i));
	for (i = 0; i < 8; i++)
		p[16 + i] = (uint8_t)(cas >> (56 - 8 * i));
}

/* Parses a header built from the arguments; returns the parser's code. */
static int
parse(uint8_t opcode, uint16_t keylen, uint8_t extlen, uint32_t bodylen)
{
	uint8_t h[BIN_HEADER_LEN];
	struct bin_req req;

	mkhdr(h, BIN_REQ_MAGIC, opcode, keylen, extlen, bodylen, 0, 0);
	return proto_bin_parse_header(h, &req);
}

START_TEST(test_parse_fields)
{
	uint8_t h[BIN_HEADER_LEN];
	struct bin_req req;

	mkhdr(h, BIN_REQ_MAGIC, BIN_CMD_SET, 3, 8, 16, 0xdeadbeef,
	      0x0102030405060708ULL);
	h[5] = 0x00;
	h[6] = 0x12;
	h[7] = 0x34;
	ck_assert_int_eq(proto_bin_parse_header(h, &req), 0);
	ck_assert_uint_eq(req.magic, 0x80);
	ck_assert_uint_eq(req.opcode, BIN_CMD_SET);
	ck_assert_uint_eq(req.keylen, 3);
	ck_assert_uint_eq(req.extlen, 8);
	ck_assert_uint_eq(req.vbucket, 0x1234);
	ck_assert_uint_eq(req.bodylen, 16);
	ck_assert_uint_eq(req.opaque, 0xdeadbeef);
	ck_assert(req.cas == 0x0102030405060708ULL);
}
END_TEST

START_TEST(test_parse_magic)
{
	uint8_t h[BIN_HEADER_LEN];
	struct bin_req req;

	mkhdr(h, BIN_RES_MAGIC, BIN_CMD_NOOP, 0, 0, 0, 7, 0);
	ck_assert_int_eq(proto_bin_parse_header(h, &req), -1);
	mkhdr(h, 'g', BIN_CMD_NOOP, 0, 0, 0, 7, 0);
	ck_assert_int_eq(proto_bin_parse_header(h, &req), -1);
	/* fields are filled even on error, for the reply */
	mkhdr(h, 0x80, BIN_CMD_GET, 0, 0, 0, 42, 0);
	ck_assert_int_eq(proto_bin_parse_header(h, &req), 0x0004);
	ck_assert_uint_eq(req.opaque, 42);
	ck_assert_uint_eq(req.opcode, BIN_CMD_GET);
}
END_TEST

START_TEST(test_parse_misfit)
{
	/* key or key+extras longer than the body: "Unknown command" */
	ck_assert_int_eq(parse(BIN_CMD_GET, 5, 0, 4), 0x0081);
	ck_assert_int_eq(parse(BIN_CMD_SET, 3, 8, 10), 0x0081);
	ck_assert_int_eq(parse(0x40, 10, 0, 3), 0x0081);
	/* the misfit check comes before the key length check */
	ck_assert_int_eq(parse(BIN_CMD_GET, 300, 0, 3), 0x0081);
}
END_TEST

START_TEST(test_parse_keylen)
{
	ck_assert_int_eq(parse(BIN_CMD_GET, 250, 0, 250), 0);
	ck_assert_int_eq(parse(BIN_CMD_GET, 251, 0, 251), 0x0004);
	ck_assert_int_eq(parse(BIN_CMD_SET, 251, 8, 300), 0x0004);
	/* even for an unknown opcode */
	ck_assert_int_eq(parse(0x40, 300, 0, 300), 0x0004);
}
END_TEST

START_TEST(test_parse_get_family)
{
	static const uint8_t ops[] = {BIN_CMD_GET,    BIN_CMD_GETQ,
	                              BIN_CMD_GETK,   BIN_CMD_GETKQ,
	                              BIN_CMD_DELETE, BIN_CMD_DELETEQ};
	size_t i;

	for (i = 0; i < sizeof ops; i++) {
		ck_assert_int_eq(parse(ops[i], 3, 0, 3), 0);
		ck_assert_int_eq(parse(ops[i], 0, 0, 0), 0x0004);
		ck_assert_int_eq(parse(ops[i], 3, 4, 7), 0x0004);
		ck_assert_int_eq(parse(ops[i], 3, 0, 5), 0x0004);
	}
}
END_TEST

START_TEST(test_parse_update_family)
{
	static const uint8_t with_ext[] = {BIN_CMD_SET,     BIN_CMD_SETQ,
	                                   BIN_CMD_ADD,     BIN_CMD_ADDQ,
	                                   BIN_CMD_REPLACE, BIN_CMD_REPLACEQ};
	static const uint8_t no_ext[] = {BIN_CMD_APPEND, BIN_CMD_APPENDQ,
	                                 BIN_CMD_PREPEND, BIN_CMD_PREPENDQ};
	size_t i;

	for (i = 0; i < sizeof with_ext; i++) {
		ck_assert_int_eq(parse(with_ext[i], 3, 8, 11), 0);
		ck_assert_int_eq(parse(with_ext[i], 3, 8, 2000000), 0);
		ck_assert_int_eq(parse(with_ext[i], 3, 4, 11), 0x0004);
		ck_assert_int_eq(parse(with_ext[i], 3, 0, 11), 0x0004);
		ck_assert_int_eq(parse(with_ext[i], 0, 8, 11), 0x0004);
	}
	for (i = 0; i < sizeof no_ext; i++) {
		ck_assert_int_eq(parse(no_ext[i], 3, 0, 3), 0);
		ck_assert_int_eq(parse(no_ext[i], 3, 0, 100), 0);
		ck_assert_int_eq(parse(no_ext[i], 3, 4, 10), 0x0004);
		ck_assert_int_eq(parse(no_ext[i], 0, 0, 10), 0x0004);
	}
}
END_TEST

START_TEST(test_parse_arith_touch)
{
	ck_assert_int_eq(parse(BIN_CMD_INCREMENT, 1, 20, 21), 0);
	ck_assert_int_eq(parse(BIN_CMD_DECREMENTQ, 1, 20, 21), 0);
	ck_assert_int_eq(parse(BIN_CMD_INCREMENT, 1, 0, 1), 0x0004);
	ck_assert_int_eq(parse(BIN_CMD_INCREMENT, 1, 20, 22), 0x0004);
	ck_assert_int_eq(parse(BIN_CMD_INCREMENT, 0, 20, 20), 0x0004);
	ck_assert_int_eq(parse(BIN_CMD_TOUCH, 2, 4, 6), 0);
	ck_assert_int_eq(parse(BIN_CMD_GAT, 2, 4, 6), 0);
	ck_assert_int_eq(parse(BIN_CMD_GATKQ, 2, 4, 6), 0);
	ck_assert_int_eq(parse(BIN_CMD_TOUCH, 2, 0, 2), 0x0004);
	ck_assert_int_eq(parse(BIN_CMD_TOUCH, 0, 4, 4), 0x0004);
	ck_assert_int_eq(parse(BIN_CMD_GAT, 2, 4, 7), 0x0004);
}
END_TEST

START_TEST(test_parse_bare)
{
	static const uint8_t ops[] = {BIN_CMD_NOOP, BIN_CMD_VERSION,
	                              BIN_CMD_QUIT, BIN_CMD_QUITQ,
	                              BIN_CMD_SASL_LIST_MECHS};
	size_t i;

	for (i = 0; i < sizeof ops; i++) {
		ck_assert_int_eq(parse(ops[i], 0, 0, 0), 0);
		ck_assert_int_eq(parse(ops[i], 0, 0, 1), 0x0004);
		ck_assert_int_eq(parse(ops[i], 1, 0, 1), 0x0004);
		ck_assert_int_eq(parse(ops[i], 0, 4, 4), 0x0004);
	}
	ck_assert_int_eq(parse(BIN_CMD_FLUSH, 0, 0, 0), 0);
	ck_assert_int_eq(parse(BIN_CMD_FLUSHQ, 0, 4, 4), 0);
	ck_assert_int_eq(parse(BIN_CMD_FLUSH, 0, 2, 2), 0x0004);
	ck_assert_int_eq(parse(BIN_CMD_FLUSH, 1, 0, 1), 0x0004);
	ck_assert_int_eq(parse(BIN_CMD_VERBOSITY, 0, 4, 4), 0);
	ck_assert_int_eq(parse(BIN_CMD_VERBOSITY, 0, 0, 0), 0x0004);
	ck_assert_int_eq(parse(BIN_CMD_STAT, 0, 0, 0), 0);
	ck_assert_int_eq(parse(BIN_CMD_STAT, 5, 0, 5), 0);
	ck_assert_int_eq(parse(BIN_CMD_STAT, 0, 4, 4), 0x0004);
	ck_assert_int_eq(parse(BIN_CMD_STAT, 5, 0, 6), 0x0004);
	ck_assert_int_eq(parse(BIN_CMD_SASL_AUTH, 5, 0, 20), 0);
	ck_assert_int_eq(parse(BIN_CMD_SASL_STEP, 0, 0, 20), 0x0004);
}
END_TEST

START_TEST(test_parse_unknown)
{
	/* unknown opcodes parse fine; the caller answers and skips */
	ck_assert_int_eq(parse(0x40, 0, 0, 0), 0);
	ck_assert_int_eq(parse(0x40, 3, 4, 100000), 0);
	ck_assert_int_eq(parse(0xff, 0, 0, 5), 0);
	ck_assert_int_eq(parse(0x1f, 0, 0, 0), 0);
	ck_assert_ptr_null(proto_bin_opcode_name(0x40));
	ck_assert_ptr_null(proto_bin_opcode_name(0x1f));
	ck_assert_str_eq(proto_bin_opcode_name(BIN_CMD_GATKQ), "gatkq");
	ck_assert_str_eq(proto_bin_opcode_name(BIN_CMD_GET), "get");
}
END_TEST

START_TEST(test_encode)
{
	static const uint8_t want[BIN_HEADER_LEN] = {
	    0x81, 0x0c, 0x00, 0x02, 0x04, 0x00, 0x00, 0x01,
	    0x00, 0x01, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe,
	    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
	struct bin_res res = {
	    .opcode = BIN_CMD_GETK,
	    .extlen = 4,
	    .keylen = 2,
	    .status = 1,
	    .bodylen = 0x1000b,
	    .opaque = 0xcafebabe,
	    .cas = 0x1122334455667788ULL,
	};
	uint8_t got[BIN_HEADER_LEN];

	memset(got, 0xaa, sizeof got);
	proto_bin_encode_header(got, &res);
	ck_assert_mem_eq(got, want, BIN_HEADER_LEN);
}
END_TEST

START_TEST(test_status_text)
{
	ck_assert_str_eq(proto_bin_status_text(0x0000), "");
	ck_assert_str_eq(proto_bin_status_text(0x0001), "Not found");
	ck_assert_str_eq(proto_bin_status_text(0x0002), "Data exists for key.");
	ck_assert_str_eq(proto_bin_status_text(0x0003), "Too large.");
	ck_assert_str_eq(proto_bin_status_text(0x0004), "Invalid arguments");
	ck_assert_str_eq(proto_bin_status_text(0x0005), "Not stored.");
	ck_assert_str_eq(proto_bin_status_text(0x0006),
	                 "Non-numeric server-side value for incr or decr");
	ck_assert_str_eq(proto_bin_status_text(0x0020), "Auth failure.");
	ck_assert_str_eq(proto_bin_status_text(0x0081), "Unknown command");
	ck_assert_str_eq(proto_bin_status_text(0x0082), "Out of memory");
	ck_assert_str_eq(proto_bin_status_text(0x0099), "UNHANDLED ERROR");
}
END_TEST

/* Every opcode/length combination parses without crashing, and any
 * accepted request fits the rule "extras + key <= body". */
START_TEST(test_parse_exhaustive)
{
	static const uint32_t bodies[] = {0,  1,   4,   8,   20,
	                                  24, 250, 258, 271, 0xffffffffu};
	static const uint16_t keys[] = {0, 1, 250, 251, 0xffff};
	static const uint8_t exts[] = {0, 4, 8, 20, 255};
	unsigned op;
	size_t b, k, e;

	for (op = 0; op < 256; op++)
		for (b = 0; b < sizeof bodies / sizeof bodies[0]; b++)
			for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
				for (e = 0; e < sizeof exts; e++) {
					int rc = parse((uint8_t)op, keys[k],
					               exts[e], bodies[b]);
					if (rc == 0) {
						ck_assert_uint_le(
						    (uint32_t)keys[k] + exts[e],
						    bodies[b]);
						ck_assert_uint_le(keys[k], 250);
					} else {
						ck_assert(rc == 0x0004 ||
						          rc == 0x0081);
					}
				}
}
END_TEST

/* Builds the suite. */
static Suite *
proto_bin_suite(void)
{
	Suite *s = suite_create("proto_bin");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_parse_fields);
	tcase_add_test(tc, test_parse_magic);
	tcase_add_test(tc, test_parse_misfit);
	tcase_add_test(tc, test_parse_keylen);
	tcase_add_test(tc, test_parse_get_family);
	tcase_add_test(tc, test_parse_update_family);
	tcase_add_test(tc, test_parse_arith_touch);
	tcase_add_test(tc, test_parse_bare);
	tcase_add_test(tc, test_parse_unknown);
	tcase_add_test(tc, test_parse_exhaustive);
	suite_add_tcase(s, tc);
	tc = tcase_create("encode");
	tcase_add_test(tc, test_encode);
	tcase_add_test(tc, test_status_text);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proto_bin_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
