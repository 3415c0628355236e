/* test_util.c: number parsing, key validation and exptime conversion. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define S(x) x, strlen(x)

START_TEST(test_strtoull)
{
	uint64_t v;

	ck_assert(util_strtoull(S("0"), &v) && v == 0);
	ck_assert(util_strtoull(S("18446744073709551615"), &v) &&
	          v == UINT64_MAX);
	ck_assert(!util_strtoull(S("18446744073709551616"), &v));
	ck_assert(!util_strtoull(S("-1"), &v));
	ck_assert(!util_strtoull(S("12a"), &v));
	ck_assert(!util_strtoull(S(""), &v));
	ck_assert(!util_strtoull(S("+5"), &v));
	ck_assert(util_strtoull(S("18446744073709551610"), &v) &&
	          v == UINT64_MAX - 5);
	ck_assert(!util_strtoull(S("18446744073709551620"), &v));
	ck_assert(!util_strtoull(S("99999999999999999999"), &v));
	ck_assert(util_strtoull(S("00000000000000000000000001"), &v) && v == 1);
}
END_TEST

START_TEST(test_strtol)
{
	int32_t v;
	int64_t w;

	ck_assert(util_strtol(S("-1"), &v) && v == -1);
	ck_assert(util_strtol(S("2147483647"), &v) && v == INT32_MAX);
	ck_assert(!util_strtol(S("2147483648"), &v));
	ck_assert(util_strtol(S("-2147483648"), &v) && v == INT32_MIN);
	ck_assert(!util_strtol(S("-"), &v));
	ck_assert(!util_strtol(S("--1"), &v));
	ck_assert(util_strtoll(S("-9223372036854775808"), &w) &&
	          w == INT64_MIN);
	ck_assert(!util_strtoll(S("9223372036854775808"), &w));
}
END_TEST

START_TEST(test_u64toa)
{
	char buf[24];

	ck_assert_uint_eq(util_u64toa(0, buf), 1);
	ck_assert_str_eq(buf, "0");
	ck_assert_uint_eq(util_u64toa(UINT64_MAX, buf), 20);
	ck_assert_str_eq(buf, "18446744073709551615");
}
END_TEST

START_TEST(test_key_valid)
{
	char key[300];

	memset(key, 'k', sizeof key);
	ck_assert(util_key_valid(key, 250));
	ck_assert(!util_key_valid(key, 251));
	ck_assert(!util_key_valid(key, 0));
	ck_assert(!util_key_valid("a b", 3));
	/* memcached's text protocol takes any other byte in a key */
	ck_assert(util_key_valid("a\x01", 2));
	ck_assert(util_key_valid("a\x7f", 2));
	ck_assert(util_key_valid("\t\r\x1f", 3));
	ck_assert(util_key_valid("\xc3\xa9", 2));
	ck_assert(!util_key_valid(" a", 2));
	ck_assert(!util_key_valid("a ", 2));
}
END_TEST

START_TEST(test_realtime)
{
	current_time = 1700000000;
	ck_assert_uint_eq(util_realtime(0), 0);
	ck_assert_uint_eq(util_realtime(10), 1700000010);
	ck_assert_uint_eq(util_realtime(60 * 60 * 24 * 30),
	                  1700000000 + 2592000);
	ck_assert_uint_eq(util_realtime(60 * 60 * 24 * 30 + 1), 2592001);
	ck_assert_uint_eq(util_realtime(1800000000), 1800000000);
	ck_assert_uint_eq(util_realtime(-1), 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_strtoull);
	tcase_add_test(tc, test_strtol);
	tcase_add_test(tc, test_u64toa);
	tcase_add_test(tc, test_key_valid);
	tcase_add_test(tc, test_realtime);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
