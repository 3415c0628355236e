/* test_proto_meta.c: the meta command parser and its base64 helpers. Every
 * expected error string was checked against memcached 1.6.18. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto_meta.h"

static struct meta_req req;

/* Parses a NUL-terminated line into the file's req. */
static void
parse(const char *line)
{
	proto_meta_parse(line, strlen(line), &req);
}

/* Asserts that line fails with exactly `error` (and the swallow flag). */
static void
expect_error(const char *line, const char *error, bool swallow)
{
	parse(line);
	ck_assert_msg(req.cmd == META_ERROR, "'%s' did not fail", line);
	ck_assert_str_eq(req.error, error);
	ck_assert_msg(req.swallow == swallow, "'%s': swallow %d", line,
	              (int)req.swallow);
}

/* Returns "mg k" followed by n distinct valid flags (static buffer). */
static const char *
with_flags(const char *prefix, int n)
{
	static char buf[512];
	static const char flags[] = "bcfhklqstuvIOPLTN";
	int i;

	strcpy(buf, prefix);
	for (i = 0; i < n; i++) {
		size_t l = strlen(buf);
		buf[l] = ' ';
		buf[l + 1] = flags[i];
		buf[l + 2] = '\0';
		if (flags[i] == 'T' || flags[i] == 'N')
			strcat(buf, "1");
	}
	return buf;
}

START_TEST(test_commands)
{
	parse("mn");
	ck_assert_int_eq(req.cmd, META_MN);
	parse("mn with junk after it");
	ck_assert_int_eq(req.cmd, META_MN);
	parse("mg foo");
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert_uint_eq(req.nkey, 3);
	ck_assert(memcmp(req.lkey, "foo", 3) == 0);
	parse("md foo");
	ck_assert_int_eq(req.cmd, META_MD);
	parse("ma foo");
	ck_assert_int_eq(req.cmd, META_MA);
	ck_assert_uint_eq(req.delta, 1);
	ck_assert_uint_eq(req.initial, 0);
	parse("me foo");
	ck_assert_int_eq(req.cmd, META_ME);
	parse("ms foo 5");
	ck_assert_int_eq(req.cmd, META_MS);
	ck_assert_uint_eq(req.vlen, 5);
	/* runs of spaces separate like one space */
	parse("mg   foo    v  ");
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert_uint_eq(req.nkey, 3);
	ck_assert(proto_meta_has(&req, 'v'));
	/* only spaces separate: a tab belongs to the key */
	parse("mg foo\tv");
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert_uint_eq(req.nkey, 5);
	ck_assert_int_eq(req.nflags, 0);
}
END_TEST

START_TEST(test_empty_and_unknown)
{
	expect_error("", "ERROR", false);
	expect_error("   ", "ERROR", false);
	expect_error("mg", "ERROR", false);
	expect_error("mg ", "ERROR", false);
	expect_error("ms", "ERROR", false);
	expect_error("md", "ERROR", false);
	expect_error("ma", "ERROR", false);
	expect_error("me", "CLIENT_ERROR bad command line format", false);
	expect_error("mx foo", "ERROR", false);
	expect_error("mgx foo", "ERROR", false);
	expect_error("m foo", "ERROR", false);
	expect_error("MG foo", "ERROR", false);
}
END_TEST

START_TEST(test_key_length)
{
	char line[300];

	memset(line, 0, sizeof(line));
	memcpy(line, "mg ", 3);
	memset(line + 3, 'a', 250);
	parse(line);
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert_uint_eq(req.nkey, 250);
	line[253] = 'a';
	expect_error(line, "CLIENT_ERROR bad command line format", false);
	line[1] = 'd';
	expect_error(line, "CLIENT_ERROR bad command line format", false);
	line[1] = 'a';
	expect_error(line, "CLIENT_ERROR bad command line format", false);
	line[1] = 'e';
	expect_error(line, "CLIENT_ERROR bad command line format", false);
	/* the key check comes before the flag count */
	line[1] = 'g';
	strcat(line, " a b c d e f g h i j k l m n o p q r s");
	expect_error(line, "CLIENT_ERROR bad command line format", false);
	/* ms: a bad key leaves the value to be read as commands */
	memcpy(line, "ms ", 3);
	strcpy(line + 254, " 2");
	expect_error(line, "CLIENT_ERROR bad command line format", false);
}
END_TEST

START_TEST(test_too_many_tokens)
{
	/* "azI=" is base64 for "k2" (the first flag is b) */
	parse(with_flags("mg azI=", 17));
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert_int_eq(req.nflags, 17);
	expect_error(with_flags("mg azI= O1", 17),
	             "CLIENT_ERROR options flags are too long", false);
	parse(with_flags("md azI=", 17));
	ck_assert_int_eq(req.cmd, META_MD);
	parse(with_flags("md k", 17));
	ck_assert_int_eq(req.cmd, META_ERROR); /* b on "k" fails to decode */
	ck_assert_str_eq(req.error, "CLIENT_ERROR invalid or duplicate flag");
	expect_error(with_flags("md k x", 17),
	             "CLIENT_ERROR options flags too long", false);
	expect_error(with_flags("ma k x", 17),
	             "CLIENT_ERROR options flags too long", false);
	/* ms has the length token, so one flag fewer; no swallow */
	parse(with_flags("ms azI= 2", 16));
	ck_assert_int_eq(req.cmd, META_MS);
	expect_error(with_flags("ms k 2", 17),
	             "CLIENT_ERROR options flags too long", false);
	/* me has no limit */
	parse("me k a b c d e f g h i j k l m n o p q r s t u v w x y z");
	ck_assert_int_eq(req.cmd, META_ME);
}
END_TEST

START_TEST(test_unknown_and_duplicate_flags)
{
	expect_error("mg foo zz", "CLIENT_ERROR invalid flag", false);
	expect_error("mg foo !", "CLIENT_ERROR invalid flag", false);
	expect_error("mg foo 1", "CLIENT_ERROR invalid flag", false);
	expect_error("mg foo E1", "CLIENT_ERROR invalid flag", false);
	expect_error("mg foo S10", "CLIENT_ERROR invalid flag", false);
	expect_error("mg foo v v", "CLIENT_ERROR duplicate flag", false);
	expect_error("mg foo P P", "CLIENT_ERROR duplicate flag", false);
	expect_error("mg foo Oa Ob", "CLIENT_ERROR duplicate flag", false);
	expect_error("md foo zz", "CLIENT_ERROR invalid or duplicate flag",
	             false);
	expect_error("md foo v v", "CLIENT_ERROR invalid or duplicate flag",
	             false);
	expect_error("ma foo x", "CLIENT_ERROR invalid or duplicate flag",
	             false);
	expect_error("ms foo 2 zz", "CLIENT_ERROR invalid flag", true);
	ck_assert_uint_eq(req.vlen, 2);
	expect_error("ms foo 2 c c", "CLIENT_ERROR duplicate flag", true);
	expect_error("ms foo 2 S2", "CLIENT_ERROR invalid flag", true);
	/* an unknown flag stops at once; a bad token does not */
	expect_error("mg foo Tabc zz", "CLIENT_ERROR invalid flag", false);
	expect_error("mg foo T v v", "CLIENT_ERROR duplicate flag", false);
	/* every documented flag, plus the ignored P/L and I/M/C/F/D/J */
	parse("mg foo b c f h k l q s t u v");
	ck_assert_int_eq(req.cmd, META_ERROR); /* "foo" is not base64 */
	parse("mg foo c f h k l q s t u v I MX P L");
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert_int_eq(req.nflags, 14);
	parse("mg foo C1 F1 D1 J1 N1 R1 T1 Oo");
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert_int_eq(req.nflags, 8);
}
END_TEST

START_TEST(test_numbers)
{
	expect_error("mg foo T",
	             "CLIENT_ERROR bad token in command line format", false);
	expect_error("mg foo Tabc",
	             "CLIENT_ERROR bad token in command line format", false);
	expect_error("mg foo T1x",
	             "CLIENT_ERROR bad token in command line format", false);
	expect_error("mg foo N",
	             "CLIENT_ERROR bad token in command line format", false);
	expect_error("mg foo R-",
	             "CLIENT_ERROR bad token in command line format", false);
	expect_error("mg foo C-1",
	             "CLIENT_ERROR bad token in command line format", false);
	expect_error("mg foo C18446744073709551616",
	             "CLIENT_ERROR bad token in command line format", false);
	expect_error("mg foo F-1", "CLIENT_ERROR bad command line format",
	             false);
	expect_error("mg foo Fx", "CLIENT_ERROR bad command line format",
	             false);
	expect_error("mg foo D-1", "CLIENT_ERROR invalid numeric delta value",
	             false);
	expect_error("mg foo J", "CLIENT_ERROR invalid numeric initial value",
	             false);
	expect_error("ma foo D-1", "CLIENT_ERROR invalid or duplicate flag",
	             false);
	expect_error("ma foo D18446744073709551616",
	             "CLIENT_ERROR invalid or duplicate flag", false);
	expect_error("ma foo J1x", "CLIENT_ERROR invalid or duplicate flag",
	             false);
	expect_error("ms foo 2 Tx",
	             "CLIENT_ERROR bad token in command line format", true);
	expect_error("ms foo 2 C-5",
	             "CLIENT_ERROR bad token in command line format", true);
	/* the last bad token wins; F keeps the default message */
	expect_error("mg foo Tabc Fabc",
	             "CLIENT_ERROR bad token in command line format", false);
	expect_error("mg foo M Tx",
	             "CLIENT_ERROR bad token in command line format", false);
	expect_error("mg foo Tx M", "CLIENT_ERROR incorrect length for M token",
	             false);

	/* negative and signed numbers that memcached accepts */
	parse("mg foo T-1 N-5 R+7");
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert_int_eq(req.ttl, -1);
	ck_assert_int_eq(req.vivify, -5);
	ck_assert_int_eq(req.recache, 7);
	parse("ma foo D18446744073709551615 J-0 C+3");
	ck_assert_int_eq(req.cmd, META_MA);
	ck_assert_uint_eq(req.delta, UINT64_MAX);
	ck_assert_uint_eq(req.initial, 0);
	ck_assert_uint_eq(req.cas, 3);
	/* 32-bit truncation, as memcached's strtol/strtoul do */
	parse("mg foo T99999999999 F99999999999");
	ck_assert_int_eq(req.ttl, 1215752191);
	ck_assert_uint_eq(req.cflags, 1215752191u);
	parse("mg foo F18446744073709551615");
	ck_assert_uint_eq(req.cflags, UINT32_MAX);
}
END_TEST

START_TEST(test_ms_length)
{
	expect_error("ms foo", "CLIENT_ERROR bad command line format", false);
	expect_error("ms foo abc", "CLIENT_ERROR bad command line format",
	             false);
	expect_error("ms foo -1", "CLIENT_ERROR bad command line format",
	             false);
	expect_error("ms foo 2x", "CLIENT_ERROR bad command line format",
	             false);
	expect_error("ms foo 2147483646",
	             "CLIENT_ERROR bad command line format", false);
	expect_error("ms foo 2147483648",
	             "CLIENT_ERROR bad command line format", false);
	expect_error("ms foo 99999999999999999999",
	             "CLIENT_ERROR bad command line format", false);
	parse("ms foo 2147483645");
	ck_assert_int_eq(req.cmd, META_MS);
	ck_assert_uint_eq(req.vlen, 2147483645u);
	parse("ms foo +5");
	ck_assert_uint_eq(req.vlen, 5);
	parse("ms foo 05 T0 F7 c k");
	ck_assert_uint_eq(req.vlen, 5);
	ck_assert_uint_eq(req.cflags, 7);
	/* 2^32 truncates to 0, as in memcached */
	parse("ms foo 4294967296");
	ck_assert_int_eq(req.cmd, META_MS);
	ck_assert_uint_eq(req.vlen, 0);
}
END_TEST

START_TEST(test_modes)
{
	const char *ok;
	int i;

	for (ok = "EAPRS", i = 0; ok[i]; i++) {
		char line[32];
		snprintf(line, sizeof(line), "ms foo 2 M%c", ok[i]);
		parse(line);
		ck_assert_int_eq(req.cmd, META_MS);
		ck_assert_int_eq(req.mode, ok[i]);
	}
	for (ok = "I+D-", i = 0; ok[i]; i++) {
		char line[32];
		snprintf(line, sizeof(line), "ma foo M%c", ok[i]);
		parse(line);
		ck_assert_int_eq(req.cmd, META_MA);
		ck_assert_int_eq(req.mode, ok[i]);
	}
	expect_error("ms foo 2 MX", "CLIENT_ERROR invalid mode for ms M token",
	             true);
	expect_error("ms foo 2 Ms", "CLIENT_ERROR invalid mode for ms M token",
	             true);
	expect_error("ms foo 2 MI", "CLIENT_ERROR invalid mode for ms M token",
	             true);
	expect_error("ms foo 2 M", "CLIENT_ERROR incorrect length for M token",
	             true);
	expect_error("ma foo Mi", "CLIENT_ERROR invalid mode for ma M token",
	             false);
	expect_error("ma foo MDD", "CLIENT_ERROR invalid or duplicate flag",
	             false);
	/* mg and md ignore the mode */
	parse("mg foo MX");
	ck_assert_int_eq(req.cmd, META_MG);
	parse("md foo MX");
	ck_assert_int_eq(req.cmd, META_MD);
	/* the mode is checked before the opaque length */
	expect_error("ms foo 2 O123456789012345678901234567890123 MX",
	             "CLIENT_ERROR invalid mode for ms M token", true);
}
END_TEST

START_TEST(test_opaque_and_order)
{
	parse("mg foo v k Oabc t");
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert_int_eq(req.nflags, 4);
	ck_assert(memcmp(req.order, "vkOt", 4) == 0);
	ck_assert_uint_eq(req.nopaque, 3);
	ck_assert(memcmp(req.opaque, "abc", 3) == 0);
	parse("mg foo O");
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert_uint_eq(req.nopaque, 0);
	ck_assert_ptr_nonnull(req.opaque);
	parse("mg foo O1234567890123456789012345678901");
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert_uint_eq(req.nopaque, 31);
	expect_error("mg foo O12345678901234567890123456789012",
	             "CLIENT_ERROR opaque token too long", false);
	expect_error("md foo O12345678901234567890123456789012",
	             "CLIENT_ERROR opaque token too long", false);
	expect_error("ms foo 2 O12345678901234567890123456789012",
	             "CLIENT_ERROR opaque token too long", true);
	/* a bad flag is reported before a long opaque */
	expect_error("mg foo O12345678901234567890123456789012 zz",
	             "CLIENT_ERROR invalid flag", false);
	/* extra characters after a plain flag are ignored */
	parse("mg foo v1 cx");
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert(proto_meta_has(&req, 'v'));
	ck_assert(proto_meta_has(&req, 'c'));
	ck_assert(!proto_meta_has(&req, 'x'));
}
END_TEST

START_TEST(test_base64_keys)
{
	parse("mg Zm9vYmFy b k");
	ck_assert_int_eq(req.cmd, META_MG);
	ck_assert(req.b64);
	ck_assert_uint_eq(req.nlkey, 6);
	ck_assert(memcmp(req.lkey, "foobar", 6) == 0);
	ck_assert_uint_eq(req.nkey, 8);
	expect_error("mg foo b", "CLIENT_ERROR error decoding key", false);
	expect_error("mg Zm9 b", "CLIENT_ERROR error decoding key", false);
	expect_error("mg Zm9v= b", "CLIENT_ERROR error decoding key", false);
	expect_error("mg Z=== b", "CLIENT_ERROR error decoding key", false);
	expect_error("mg ==== b", "CLIENT_ERROR error decoding key", false);
	expect_error("mg Zm9v-_== b", "CLIENT_ERROR error decoding key", false);
	expect_error("md Zm9 b", "CLIENT_ERROR invalid or duplicate flag",
	             false);
	expect_error("ma !!!! b", "CLIENT_ERROR invalid or duplicate flag",
	             false);
	expect_error("ms Zm9 2 b", "CLIENT_ERROR error decoding key", true);
	expect_error("me Zm9 b", "CLIENT_ERROR bad command line format", false);
	/* a decoding error is just another bad token: the last one wins */
	expect_error("mg !!!! b Tabc",
	             "CLIENT_ERROR bad token in command line format", false);
	expect_error("mg !!!! Tabc b", "CLIENT_ERROR error decoding key",
	             false);
	/* me only honours an exact "b" in the first flag position */
	parse("me Zm9v bx");
	ck_assert_int_eq(req.cmd, META_ME);
	ck_assert(!req.b64);
	parse("me Zm9v x b");
	ck_assert(!req.b64);
	parse("me Zm9v b");
	ck_assert(req.b64);
	ck_assert_uint_eq(req.nlkey, 3);
}
END_TEST

START_TEST(test_base64_codec)
{
	char out[64];
	long n;

	n = proto_meta_b64_decode("Zm9vYg==", 8, out, sizeof(out));
	ck_assert_int_eq(n, 4);
	ck_assert(memcmp(out, "foob", 4) == 0);
	/* memcached's tolerant decoder: stops after the first padding */
	n = proto_meta_b64_decode("Zg==Zg==", 8, out, sizeof(out));
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(out[0], 'f');
	n = proto_meta_b64_decode("Zm=v", 4, out, sizeof(out));
	ck_assert_int_eq(n, 2);
	ck_assert(memcmp(out, "f`", 2) == 0);
	/* characters outside the alphabet are skipped */
	n = proto_meta_b64_decode("Zm9v!", 5, out, sizeof(out));
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(proto_meta_b64_decode("", 0, out, sizeof(out)), -1);
	ck_assert_int_eq(proto_meta_b64_decode("Zm9vYmFy", 8, out, 5), -1);

	ck_assert_uint_eq(proto_meta_b64_encode("foobar", 6, out), 8);
	ck_assert(memcmp(out, "Zm9vYmFy", 8) == 0);
	ck_assert_uint_eq(proto_meta_b64_encode("f", 1, out), 4);
	ck_assert(memcmp(out, "Zg==", 4) == 0);
	ck_assert_uint_eq(proto_meta_b64_encode("fo", 2, out), 4);
	ck_assert(memcmp(out, "Zm8=", 4) == 0);
	ck_assert_uint_eq(proto_meta_b64_encode("foo\xfb", 4, out), 8);
	ck_assert(memcmp(out, "Zm9v+w==", 8) == 0);
}
END_TEST

/* Builds the suite. */
static Suite *
proto_meta_suite(void)
{
	Suite *s = suite_create("proto_meta");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_commands);
	tcase_add_test(tc, test_empty_and_unknown);
	tcase_add_test(tc, test_key_length);
	tcase_add_test(tc, test_too_many_tokens);
	tcase_add_test(tc, test_unknown_and_duplicate_flags);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_ms_length);
	tcase_add_test(tc, test_modes);
	tcase_add_test(tc, test_opaque_and_order);
	tcase_add_test(tc, test_base64_keys);
	tcase_add_test(tc, test_base64_codec);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proto_meta_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
