/* test_proto_text.c: the text parser, bytes in, request out. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto_text.h"

/* Parses a C string. */
static struct text_req
parse(const char *line)
{
	struct text_req r;

	proto_text_parse(line, strlen(line), &r);
	return r;
}

#define ASSERT_ERR(line, msg)                                                  \
	do {                                                                   \
		struct text_req r_ = parse(line);                              \
		ck_assert_int_eq(r_.cmd, TXT_ERROR);                           \
		ck_assert_str_eq(r_.error, msg);                               \
	} while (0)

START_TEST(test_set)
{
	struct text_req r = parse("set foo 5 100 3");

	ck_assert_int_eq(r.cmd, TXT_SET);
	ck_assert_uint_eq(r.nkey, 3);
	ck_assert(memcmp(r.key, "foo", 3) == 0);
	ck_assert_uint_eq(r.flags, 5);
	ck_assert_int_eq(r.exptime, 100);
	ck_assert_uint_eq(r.nbytes, 3);
	ck_assert(!r.noreply);
	r = parse("add  k  0  -1  0  noreply");
	ck_assert_int_eq(r.cmd, TXT_ADD);
	ck_assert_int_eq(r.exptime, -1);
	ck_assert(r.noreply);
	r = parse("cas k 1 2 3 99");
	ck_assert_int_eq(r.cmd, TXT_CAS);
	ck_assert_uint_eq(r.cas, 99);
	r = parse("prepend k 4294967295 0 1");
	ck_assert_int_eq(r.cmd, TXT_PREPEND);
	ck_assert_uint_eq(r.flags, 4294967295u);
}
END_TEST

START_TEST(test_set_errors)
{
	char line[400];

	ASSERT_ERR("set foo 0 0", "ERROR");
	ASSERT_ERR("set foo 0 0 1 noreply extra", "ERROR");
	ASSERT_ERR("set foo bar 0 1", "CLIENT_ERROR bad command line format");
	ASSERT_ERR("set foo 0 x 1", "CLIENT_ERROR bad command line format");
	ASSERT_ERR("set foo 0 0 -1", "CLIENT_ERROR bad command line format");
	ASSERT_ERR("set foo 0 0 4294967296",
	           "CLIENT_ERROR bad command line format");
	ck_assert_uint_eq(parse("set foo 4294967296 0 1").flags, 0);
	ASSERT_ERR("set foo 18446744073709551616 0 1",
	           "CLIENT_ERROR bad command line format");
	ASSERT_ERR("set foo -1 0 1", "CLIENT_ERROR bad command line format");
	ASSERT_ERR("cas foo 0 0 1", "ERROR");
	ASSERT_ERR("cas foo 0 0 1 -5", "CLIENT_ERROR bad command line format");
	strcpy(line, "set ");
	memset(line + 4, 'k', 251);
	strcpy(line + 255, " 0 0 1");
	ASSERT_ERR(line, "CLIENT_ERROR bad command line format");
	line[254] = ' ';
	line[255] = '\0';
	strcpy(line + 254, " 0 0 1");
	ck_assert_int_eq(parse(line).cmd, TXT_SET);
}
END_TEST

START_TEST(test_get)
{
	struct text_req r = parse("get a bb ccc");
	const char *cur, *end, *k;
	size_t nk;
	int n = 0;

	ck_assert_int_eq(r.cmd, TXT_GET);
	cur = r.keys;
	end = r.keys + r.nkeys_len;
	while (proto_text_next_key(&cur, end, &k, &nk)) {
		n++;
		ck_assert_uint_eq(nk, (size_t)n);
	}
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(parse("gets x").cmd, TXT_GETS);
	ASSERT_ERR("get", "ERROR");
	ASSERT_ERR("get ", "ERROR");
	r = parse("gat 100 a b");
	ck_assert_int_eq(r.cmd, TXT_GAT);
	ck_assert_int_eq(r.exptime, 100);
	ck_assert_uint_eq(r.nkey, 1);
	ck_assert_int_eq(parse("gats -1 a").cmd, TXT_GATS);
	ASSERT_ERR("gat abc k", "CLIENT_ERROR invalid exptime argument");
	r = parse("gat 10");
	ck_assert_int_eq(r.cmd, TXT_GAT);
	ck_assert_uint_eq(r.nkeys_len, 0);
}
END_TEST

START_TEST(test_many_keys)
{
	char line[8192];
	size_t i, n = 4;
	struct text_req r;
	const char *cur, *end, *k;
	size_t nk, count = 0;

	memcpy(line, "get", 3);
	n = 3;
	for (i = 0; i < 1000; i++)
		n += (size_t)sprintf(line + n, " k%zu", i);
	proto_text_parse(line, n, &r);
	ck_assert_int_eq(r.cmd, TXT_GET);
	cur = r.keys;
	end = r.keys + r.nkeys_len;
	while (proto_text_next_key(&cur, end, &k, &nk))
		count++;
	ck_assert_uint_eq(count, 1000);
}
END_TEST

START_TEST(test_arith)
{
	struct text_req r = parse("incr k 18446744073709551615");

	ck_assert_int_eq(r.cmd, TXT_INCR);
	ck_assert_uint_eq(r.delta, UINT64_MAX);
	r = parse("decr k 1 noreply");
	ck_assert_int_eq(r.cmd, TXT_DECR);
	ck_assert(r.noreply);
	ASSERT_ERR("incr k -1", "CLIENT_ERROR invalid numeric delta argument");
	ASSERT_ERR("incr k abc", "CLIENT_ERROR invalid numeric delta argument");
	ASSERT_ERR("incr k 18446744073709551616",
	           "CLIENT_ERROR invalid numeric delta argument");
	ASSERT_ERR("incr k", "ERROR");
}
END_TEST

START_TEST(test_delete)
{
	struct text_req r = parse("delete k");

	ck_assert_int_eq(r.cmd, TXT_DELETE);
	ck_assert(!r.noreply);
	ck_assert_int_eq(parse("delete k 0").cmd, TXT_DELETE);
	r = parse("delete k noreply");
	ck_assert(r.noreply);
	r = parse("delete k 0 noreply");
	ck_assert_int_eq(r.cmd, TXT_DELETE);
	ck_assert(r.noreply);
	ASSERT_ERR("delete k 5", "CLIENT_ERROR bad command line format.  "
	                         "Usage: delete <key> [noreply]");
	ASSERT_ERR("delete", "ERROR");
}
END_TEST

START_TEST(test_misc)
{
	struct text_req r;

	ck_assert_int_eq(parse("version").cmd, TXT_VERSION);
	ck_assert_int_eq(parse("quit").cmd, TXT_QUIT);
	r = parse("flush_all");
	ck_assert_int_eq(r.cmd, TXT_FLUSH_ALL);
	ck_assert(!r.has_num);
	r = parse("flush_all 10 noreply");
	ck_assert(r.has_num && r.num == 10 && r.noreply);
	r = parse("flush_all noreply");
	ck_assert(!r.has_num && r.noreply);
	ASSERT_ERR("flush_all x", "CLIENT_ERROR invalid exptime argument");
	ASSERT_ERR("verbosity x", "CLIENT_ERROR bad command line format");
	ASSERT_ERR("cache_memlimit x", "ERROR");
	r = parse("touch k 10");
	ck_assert_int_eq(r.cmd, TXT_TOUCH);
	ck_assert_int_eq(r.exptime, 10);
	ASSERT_ERR("touch k x", "CLIENT_ERROR invalid exptime argument");
	r = parse("stats items");
	ck_assert_int_eq(r.cmd, TXT_STATS);
	ck_assert_uint_eq(r.narg, 5);
	ck_assert_int_eq(parse("verbosity 1").cmd, TXT_VERBOSITY);
	ck_assert_int_eq(parse("mg foo v").cmd, TXT_META);
	ck_assert_int_eq(parse("cache_memlimit 100").cmd, TXT_CACHE_MEMLIMIT);
	ASSERT_ERR("", "ERROR");
	ASSERT_ERR("   ", "ERROR");
	ASSERT_ERR("bogus", "ERROR");
	ASSERT_ERR("GET k", "ERROR");
	ASSERT_ERR("set\x01 k 0 0 1", "ERROR");
}
END_TEST

/* What memcached 1.6.18's own tests expect of the parser. */
START_TEST(test_memcached_quirks)
{
	char line[600];
	struct text_req r;

	/* any byte but a space is part of a key */
	r = parse("set a\x01\t\x7f 0 0 1");
	ck_assert_int_eq(r.cmd, TXT_SET);
	ck_assert_uint_eq(r.nkey, 4);
	ck_assert_int_eq(parse("get \x02k \x1f").cmd, TXT_GET);
	/* one over-long key fails a whole get (issue_152.t) */
	memset(line, 'a', sizeof line);
	memcpy(line, "get a ", 6);
	line[6 + 251] = '\0';
	ASSERT_ERR(line, "CLIENT_ERROR bad command line format");
	line[6 + 250] = '\0';
	ck_assert_int_eq(parse(line).cmd, TXT_GET);
	/* noreply is taken before the errors it silences (issue_3.t) */
	r = parse("delete k 10 noreply");
	ck_assert_int_eq(r.cmd, TXT_ERROR);
	ck_assert(r.noreply);
	r = parse("incr k x noreply");
	ck_assert_int_eq(r.cmd, TXT_ERROR);
	ck_assert(r.noreply);
	r = parse("set k 0 0 noreply");
	ck_assert_int_eq(r.cmd, TXT_ERROR);
	ck_assert(r.noreply);
	r = parse("verbosity noreply");
	ck_assert_int_eq(r.cmd, TXT_ERROR);
	ck_assert(r.noreply);
	ck_assert(!parse("delete k 10").noreply);
	/* a web request gets the connection closed, with no reply */
	r = parse("GET / HTTP/1.0");
	ck_assert_int_eq(r.cmd, TXT_ERROR);
	ck_assert_ptr_null(r.error);
	ck_assert(r.close_after);
	ck_assert(parse("DELETE HTTP/1.1").close_after);
	ck_assert(!parse("delete_x HTTP/1.1").close_after);
	ASSERT_ERR("X HTTP/1.1", "ERROR");
	ck_assert_int_eq(parse("get / HTTP/1.0").cmd, TXT_GET);
	/* a known command with the wrong token count is not a web request */
	ASSERT_ERR("verbosity a b HTTP/1.0", "ERROR");
#ifndef NDEBUG
	r = parse("debugtime 3");
	ck_assert_int_eq(r.cmd, TXT_DEBUGTIME);
	ck_assert_int_eq(r.snum, 3);
	ck_assert_int_eq(parse("debugtime p").cmd, TXT_DEBUGTIME);
	ASSERT_ERR("debugtime x", "ERROR");
#else
	ASSERT_ERR("debugtime 3", "ERROR");
#endif
}
END_TEST

START_TEST(test_garbage)
{
	char buf[512];
	unsigned seed = 12345;
	int i, j;

	for (i = 0; i < 100000; i++) {
		struct text_req r;
		size_t n = (size_t)(rand_r(&seed) % sizeof buf);
		for (j = 0; j < (int)n; j++)
			buf[j] = (char)(rand_r(&seed) & 0xff);
		if (i % 2 == 0 && n > 4)
			memcpy(buf, "set ", 4);
		proto_text_parse(buf, n, &r);
		if (r.cmd == TXT_ERROR)
			ck_assert(r.error != NULL || r.close_after);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("proto_text");
	TCase *tc = tcase_create("parse");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_set);
	tcase_add_test(tc, test_set_errors);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_many_keys);
	tcase_add_test(tc, test_arith);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_misc);
	tcase_add_test(tc, test_memcached_quirks);
	tcase_add_test(tc, test_garbage);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
