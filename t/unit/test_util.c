/* test_util.c: number parsing, key validation and exptime conversion. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Splits spec with util_split_hostport into 64-byte buffers. */
static bool
split(const char *spec, char *host, char *port)
{
	return util_split_hostport(spec, strlen(spec), host, 64, port, 16);
}

START_TEST(test_split_hostport)
{
	static const struct {
		const char *spec, *host, *port;
	} ok[] = {
	    {"127.0.0.1", "127.0.0.1", ""},
	    {"localhost:11311", "localhost", "11311"},
	    {"[::1]:0", "::1", "0"},
	    {"[fe80::1]", "fe80::1", ""},
	    {"fe80::2", "fe80::2", ""}, /* bare v6: all host */
	    {"*:11211", "*", "11211"},
	    {"", "", ""},
	};
	char host[64], port[16];
	size_t i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		ck_assert_msg(split(ok[i].spec, host, port), "%s", ok[i].spec);
		ck_assert_str_eq(host, ok[i].host);
		ck_assert_str_eq(port, ok[i].port);
	}
	/* only len bytes count: "a:1,b:2" cut after the first entry */
	ck_assert(util_split_hostport("a:1,b:2", 3, host, 64, port, 16));
	ck_assert_str_eq(host, "a");
	ck_assert_str_eq(port, "1");

	ck_assert(!split("[::1", host, port));   /* no ']' */
	ck_assert(!split("[::1]x", host, port)); /* junk after ']' */
	ck_assert(!split("[::1]:", host, port)); /* empty port */
	ck_assert(!split("host:", host, port));  /* empty port */
	ck_assert(
	    !split("h:12345678901234567", host, port)); /* port too long */
	ck_assert(!util_split_hostport("abcdef", 6, host, 6, port, 16));
	ck_assert(util_split_hostport("abcde", 5, host, 6, port, 16));
	ck_assert_str_eq(host, "abcde");
}
END_TEST

START_TEST(test_big_endian)
{
	uint8_t b[8];

	ck_assert_ptr_eq(util_put_be16(b, 0x0102), b + 2);
	ck_assert_int_eq(memcmp(b, "\x01\x02", 2), 0);
	ck_assert_uint_eq(util_get_be16(b), 0x0102);
	ck_assert_ptr_eq(util_put_be32(b, 0xfedcba98u), b + 4);
	ck_assert_int_eq(memcmp(b, "\xfe\xdc\xba\x98", 4), 0);
	ck_assert_uint_eq(util_get_be32(b), 0xfedcba98u);
	ck_assert_ptr_eq(util_put_be64(b, 0x0123456789abcdefULL), b + 8);
	ck_assert_int_eq(memcmp(b, "\x01\x23\x45\x67\x89\xab\xcd\xef", 8), 0);
	ck_assert_uint_eq(util_get_be64(b), 0x0123456789abcdefULL);
	util_put_be64(b, UINT64_MAX);
	ck_assert_uint_eq(util_get_be64(b), UINT64_MAX);
	ck_assert_uint_eq(util_get_be16(b), 0xffff);
}
END_TEST

START_TEST(test_sockets)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd, fd2, cfd, fl;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = util_listen_socket((struct sockaddr *)&sin, sizeof sin, 8, true);
	ck_assert_int_ge(fd, 0);
	fl = fcntl(fd, F_GETFL);
	ck_assert(fl & O_NONBLOCK);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	ck_assert_uint_ne(ntohs(sin.sin_port), 0);
	/* a second listener on the same port: EADDRINUSE */
	fd2 = util_listen_socket((struct sockaddr *)&sin, sizeof sin, 8, true);
	ck_assert_int_eq(fd2, -1);
	ck_assert_int_eq(errno, EADDRINUSE);
	/* it listens: a client connects */
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(cfd, 0);
	ck_assert_int_eq(connect(cfd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(util_nonblock(cfd), 0);
	ck_assert(fcntl(cfd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(cfd, F_GETFD) & FD_CLOEXEC);
	close(cfd);
	close(fd);
	ck_assert_int_eq(util_nonblock(fd), -1); /* closed */
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
	tcase_add_test(tc, test_split_hostport);
	tcase_add_test(tc, test_big_endian);
	tcase_add_test(tc, test_sockets);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
