/* test_settings.c: defaults, every flag and long form, -l lists, -I and -m
 * sizes, -o sub-options, replication flags, errors; and the daemon helpers
 * that can run inside a test process (pidfile, privileges, limits). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "daemon.h"
#include "settings.h"

#define MB ((size_t)1024 * 1024)

/* What the last parse printed. */
static char out_text[16384];
static char err_text[4096];
static int err_lines;

/* Redirects fd into a temporary file; returns the saved descriptor. */
static int
capture_start(int fd, FILE **tmp)
{
	int saved;

	fflush(NULL);
	*tmp = tmpfile();
	ck_assert_ptr_nonnull(*tmp);
	saved = dup(fd);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fileno(*tmp), fd), 0);
	return saved;
}

/* Restores fd and copies what was written into buf (NUL-terminated). */
static void
capture_end(int fd, int saved, FILE *tmp, char *buf, size_t bufsz)
{
	size_t n;

	fflush(NULL);
	dup2(saved, fd);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, bufsz - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
}

/* Counts the newlines in s. */
static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Runs settings_parse on a NULL-terminated argument list (argv[0] is
 * added), capturing stdout and stderr. Returns settings_parse's result. */
static int
parse_args(const char **args)
{
	char *argv[64];
	FILE *tout, *terr;
	int argc = 0, rc, sout, serr;

	argv[argc++] = (char *)"memcached";
	while (*args != NULL && argc < 63)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	sout = capture_start(STDOUT_FILENO, &tout);
	serr = capture_start(STDERR_FILENO, &terr);
	rc = settings_parse(argc, argv);
	capture_end(STDERR_FILENO, serr, terr, err_text, sizeof err_text);
	capture_end(STDOUT_FILENO, sout, tout, out_text, sizeof out_text);
	err_lines = count_lines(err_text);
	return rc;
}

/* Runs settings_validate, capturing stderr. */
static int
validate(void)
{
	FILE *terr;
	int rc, serr;

	serr = capture_start(STDERR_FILENO, &terr);
	rc = settings_validate();
	capture_end(STDERR_FILENO, serr, terr, err_text, sizeof err_text);
	err_lines = count_lines(err_text);
	return rc;
}

#define PARSE(...) parse_args((const char *[]){__VA_ARGS__, NULL})

/* Parses and expects success with nothing on stderr. */
#define PARSE_OK(...)                                                          \
	do {                                                                   \
		ck_assert_int_eq(PARSE(__VA_ARGS__), 0);                       \
		ck_assert_msg(err_lines == 0, "stderr: %s", err_text);         \
	} while (0)

/* Parses and expects exit code 64 with exactly one line on stderr. */
#define PARSE_USAGE(...)                                                       \
	do {                                                                   \
		ck_assert_int_eq(PARSE(__VA_ARGS__), EX_USAGE_CODE);           \
		ck_assert_msg(err_lines == 1, "stderr: %s", err_text);         \
	} while (0)

/* Parses, validates, and expects validation to fail with one line. */
#define VALIDATE_USAGE(...)                                                    \
	do {                                                                   \
		ck_assert_int_eq(PARSE(__VA_ARGS__), 0);                       \
		ck_assert_int_eq(validate(), EX_USAGE_CODE);                   \
		ck_assert_msg(err_lines == 1, "stderr: %s", err_text);         \
	} while (0)

/* Each test starts from the defaults, and frees the strings it parsed. */
static void
setup(void)
{
	settings_init();
}

static void
teardown(void)
{
	settings_init();
}

/* True if some line of text matches the extended regex re. */
static bool
has_line_matching(const char *text, const char *re)
{
	regex_t rx;
	bool found;

	ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE), 0);
	found = regexec(&rx, text, 0, NULL, 0) == 0;
	regfree(&rx);
	return found;
}

START_TEST(test_defaults)
{
	ck_assert_int_eq(settings.port, 11211);
	ck_assert_int_eq(settings.udpport, 0);
	ck_assert_ptr_null(settings.inter);
	ck_assert_ptr_null(settings.socketpath);
	ck_assert_int_eq(settings.access, 0700);
	ck_assert_int_eq(settings.backlog, 1024);
	ck_assert_int_eq(settings.protocol, PROTO_AUTO);
	ck_assert(!settings.daemonize);
	ck_assert_ptr_null(settings.pid_file);
	ck_assert_ptr_null(settings.username);
	ck_assert(!settings.coredumps);
	ck_assert(!settings.lock_memory);
	ck_assert_int_eq(settings.verbose, 0);
	ck_assert_int_eq(settings.num_threads, 4);
	ck_assert_uint_eq(settings.maxbytes, 64 * MB);
	ck_assert(settings.evict_to_free);
	ck_assert(settings.factor == 1.25);
	ck_assert_int_eq(settings.chunk_size, 48);
	ck_assert_uint_eq(settings.item_size_max, 1 * MB);
	ck_assert_uint_eq(settings.slab_page_size, 1 * MB);
	ck_assert(settings.use_cas);
	ck_assert_int_eq(settings.hashpower_init, 0);
	ck_assert_int_eq(settings.maxconns, 1024);
	ck_assert_int_eq(settings.reqs_per_event, 20);
	ck_assert_uint_eq(settings.max_conn_output, 4 * MB);
	ck_assert_int_eq(settings.idle_timeout, 0);
	ck_assert(settings.maxconns_fast);
	ck_assert(!settings.shutdown_command);
	ck_assert(settings.flush_enabled);
	ck_assert_ptr_null(settings.repl_peer);
	ck_assert_int_eq(settings.repl_port, 11212);
	ck_assert_uint_eq(settings.repl_qsize, 65536);
	ck_assert_int_eq(settings.repl_timeout, 3);
	ck_assert_uint_eq(settings.repl_backlog, 64 * MB);
	ck_assert(!settings.repl_sync);
	ck_assert_int_eq(settings.repl_sync_timeout_ms, 1000);
	ck_assert_int_eq(settings.repl_ready_timeout, 10);
	ck_assert_ptr_null(settings.repl_secret_file);
	ck_assert_int_eq(settings.tombstone_ttl, 60);
	PARSE_OK("-u", "nobody");
	ck_assert_int_eq(validate(), 0);
}
END_TEST

START_TEST(test_short_flags)
{
	PARSE_OK("-p", "12345", "-s", "/tmp/mc.sock", "-a", "755", "-A", "-d",
	         "-r", "-u", "nobody", "-m", "128", "-M", "-c", "2048", "-P",
	         "/tmp/mc.pid", "-f", "1.5", "-n", "64", "-t", "8", "-R", "50",
	         "-C", "-b", "512", "-B", "ascii", "-I", "2m", "-F", "-W", "-x",
	         "10.0.0.2", "-X", "11300", "-q", "1000");
	ck_assert_int_eq(settings.port, 12345);
	ck_assert_str_eq(settings.socketpath, "/tmp/mc.sock");
	ck_assert_int_eq(settings.access, 0755);
	ck_assert(settings.shutdown_command);
	ck_assert(settings.daemonize);
	ck_assert(settings.coredumps);
	ck_assert_str_eq(settings.username, "nobody");
	ck_assert_uint_eq(settings.maxbytes, 128 * MB);
	ck_assert(!settings.evict_to_free);
	ck_assert_int_eq(settings.maxconns, 2048);
	ck_assert_str_eq(settings.pid_file, "/tmp/mc.pid");
	ck_assert(settings.factor == 1.5);
	ck_assert_int_eq(settings.chunk_size, 64);
	ck_assert_int_eq(settings.num_threads, 8);
	ck_assert_int_eq(settings.reqs_per_event, 50);
	ck_assert(!settings.use_cas);
	ck_assert_int_eq(settings.backlog, 512);
	ck_assert_int_eq(settings.protocol, PROTO_ASCII);
	ck_assert_uint_eq(settings.item_size_max, 2 * MB);
	ck_assert_uint_eq(settings.slab_page_size, 2 * MB);
	ck_assert(!settings.flush_enabled);
	ck_assert_str_eq(settings.repl_peer, "10.0.0.2");
	ck_assert_int_eq(settings.repl_port, 11300);
	ck_assert_uint_eq(settings.repl_qsize, 1000);
	ck_assert_int_eq(validate(), 0);
}
END_TEST

START_TEST(test_long_flags)
{
	PARSE_OK("--port=12346", "--unix-socket=/tmp/x.sock", "--unix-mask=711",
	         "--enable-shutdown", "--listen=127.0.0.1", "--daemon",
	         "--enable-coredumps", "--user=nobody", "--memory-limit=256",
	         "--disable-evictions", "--conn-limit", "99", "--verbose",
	         "--pidfile=/run/p", "--slab-growth-factor=2",
	         "--slab-min-size=96", "--threads=2", "--max-reqs-per-event=7",
	         "--disable-cas", "--listen-backlog=77", "--protocol=binary",
	         "--max-item-size=512k", "--disable-flush-all",
	         "--disable-watch", "--disable-dumping", "--udp-port=0",
	         "--extended=idle_timeout=9", "--peer=peer.example",
	         "--repl-port=0", "--repl-queue=12");
	ck_assert_int_eq(settings.port, 12346);
	ck_assert_str_eq(settings.socketpath, "/tmp/x.sock");
	ck_assert_int_eq(settings.access, 0711);
	ck_assert(settings.shutdown_command);
	ck_assert_str_eq(settings.inter, "127.0.0.1");
	ck_assert(settings.daemonize);
	ck_assert(settings.coredumps);
	ck_assert_str_eq(settings.username, "nobody");
	ck_assert_uint_eq(settings.maxbytes, 256 * MB);
	ck_assert(!settings.evict_to_free);
	ck_assert_int_eq(settings.maxconns, 99);
	ck_assert_int_eq(settings.verbose, 1);
	ck_assert_str_eq(settings.pid_file, "/run/p");
	ck_assert(settings.factor == 2.0);
	ck_assert_int_eq(settings.chunk_size, 96);
	ck_assert_int_eq(settings.num_threads, 2);
	ck_assert_int_eq(settings.reqs_per_event, 7);
	ck_assert(!settings.use_cas);
	ck_assert_int_eq(settings.backlog, 77);
	ck_assert_int_eq(settings.protocol, PROTO_BINARY);
	ck_assert_uint_eq(settings.item_size_max, 512 * 1024);
	ck_assert_uint_eq(settings.slab_page_size, 1 * MB);
	ck_assert(!settings.flush_enabled);
	ck_assert_int_eq(settings.idle_timeout, 9);
	ck_assert_str_eq(settings.repl_peer, "peer.example");
	ck_assert_int_eq(settings.repl_port, 0);
	ck_assert_uint_eq(settings.repl_qsize, 12);
}
END_TEST

START_TEST(test_verbose_count)
{
	PARSE_OK("-vvv");
	ck_assert_int_eq(settings.verbose, 3);
	settings_init();
	PARSE_OK("-v", "-v");
	ck_assert_int_eq(settings.verbose, 2);
	settings_init();
	PARSE_OK("-vv", "--verbose");
	ck_assert_int_eq(settings.verbose, 3);
}
END_TEST

START_TEST(test_protocol)
{
	PARSE_OK("-B", "auto");
	ck_assert_int_eq(settings.protocol, PROTO_AUTO);
	PARSE_OK("-B", "binary");
	ck_assert_int_eq(settings.protocol, PROTO_BINARY);
	PARSE_USAGE("-B", "foo");
	PARSE_USAGE("-B", "ASCII");
}
END_TEST

START_TEST(test_ignored_flags)
{
	/* accepted with exactly one warning line each */
	ck_assert_int_eq(PARSE("-k"), 0);
	ck_assert_int_eq(err_lines, 1);
	ck_assert(settings.lock_memory);
	ck_assert_int_eq(PARSE("-L"), 0); /* -L has an effect: no warning */
	ck_assert_int_eq(err_lines, 0);
	ck_assert(settings.large_pages);
	ck_assert_int_eq(PARSE("-D", "/"), 0); /* -D has an effect */
	ck_assert_int_eq(err_lines, 0);
	ck_assert_int_eq(settings.prefix_delimiter, '/');
	ck_assert(settings.detail_enabled);
	PARSE_USAGE("-D", "");
	ck_assert_int_eq(PARSE("-e", "/dev/shm/x"), 0);
	ck_assert_int_eq(err_lines, 1);
	ck_assert_int_eq(PARSE("--memory-file=/dev/shm/x"), 0);
	ck_assert_int_eq(err_lines, 1);
	ck_assert_int_eq(PARSE("-N", "4"), 0);
	ck_assert_int_eq(err_lines, 1);
	ck_assert_int_eq(PARSE("--lock-memory", "--enable-largepages"), 0);
	ck_assert_int_eq(err_lines, 1);
	/* -U: warns only when non-zero */
	PARSE_OK("-U", "0");
	ck_assert_int_eq(PARSE("-U", "1234"), 0);
	ck_assert_int_eq(err_lines, 1);
	ck_assert_ptr_nonnull(strstr(err_text, "UDP"));
	ck_assert_int_eq(settings.udpport, 1234);
	ck_assert_int_eq(validate(), 0);
	/* -t: quietly accepted */
	PARSE_OK("-t", "16");
	/* -W and --disable-dumping disable what we do not have: quiet */
	PARSE_OK("-W", "--disable-dumping");
}
END_TEST

START_TEST(test_refused_security_flags)
{
	PARSE_USAGE("-S");
	PARSE_USAGE("--enable-sasl");
	PARSE_USAGE("-Y", "/etc/mc.auth");
	PARSE_USAGE("-Z");
	PARSE_USAGE("--enable-ssl");
}
END_TEST

START_TEST(test_listen_lists)
{
	PARSE_OK("-l", "127.0.0.1", "-l", "10.0.0.1:1,[::1]:2", "--listen",
	         "::1");
	ck_assert_str_eq(settings.inter, "127.0.0.1,10.0.0.1:1,[::1]:2,::1");
	settings_init();
	PARSE_OK("-l", "127.0.0.1,127.0.0.2");
	ck_assert_str_eq(settings.inter, "127.0.0.1,127.0.0.2");
	PARSE_USAGE("-l", "");
	PARSE_USAGE("-l", "a,,b");
	PARSE_USAGE("-l", "a,");
	PARSE_USAGE("-l", ",a");
	PARSE_USAGE("-l", "[::1");
	PARSE_USAGE("-l", "[::1]x");
	PARSE_USAGE("-l", "[]:80");
	PARSE_USAGE("-l", "host:99999");
	PARSE_USAGE("-l", "host:abc");
	PARSE_USAGE("-l", "host:");
	PARSE_USAGE("-l", ":80");
}
END_TEST

START_TEST(test_split_listen)
{
	char host[64];
	int port = 7;

	ck_assert_int_eq(
	    settings_split_listen("127.0.0.1", host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_int_eq(port, -1);
	ck_assert_int_eq(
	    settings_split_listen("localhost:11311", host, sizeof host, &port),
	    0);
	ck_assert_str_eq(host, "localhost");
	ck_assert_int_eq(port, 11311);
	ck_assert_int_eq(
	    settings_split_listen("[::1]:0", host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(port, 0);
	ck_assert_int_eq(
	    settings_split_listen("[fe80::1]", host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "fe80::1");
	ck_assert_int_eq(port, -1);
	ck_assert_int_eq(
	    settings_split_listen("fe80::2", host, sizeof host, &port), 0);
	ck_assert_str_eq(host, "fe80::2");
	ck_assert_int_eq(port, -1);
	ck_assert_int_eq(settings_split_listen("", host, sizeof host, &port),
	                 -1);
	ck_assert_int_eq(
	    settings_split_listen("h:65536", host, sizeof host, &port), -1);
	ck_assert_int_eq(
	    settings_split_listen("h:-1", host, sizeof host, &port), -1);
	ck_assert_int_eq(
	    settings_split_listen("averyverylonghostname", host, 8, &port), -1);
}
END_TEST

START_TEST(test_item_size)
{
	PARSE_OK("-I", "1k");
	ck_assert_uint_eq(settings.item_size_max, 1024);
	ck_assert_uint_eq(settings.slab_page_size, 1 * MB);
	ck_assert_int_eq(validate(), 0);
	PARSE_OK("-I", "1024");
	ck_assert_uint_eq(settings.item_size_max, 1024);
	PARSE_OK("-I", "4M");
	ck_assert_uint_eq(settings.item_size_max, 4 * MB);
	ck_assert_uint_eq(settings.slab_page_size, 4 * MB);
	ck_assert_int_eq(validate(), 0);
	PARSE_OK("-I", "1024m", "-m", "4096");
	ck_assert_uint_eq(settings.item_size_max, 1024 * MB);
	ck_assert_int_eq(validate(), 0);
	PARSE_OK("-I", "1g", "-m", "4096");
	ck_assert_uint_eq(settings.item_size_max, 1024 * MB);
	PARSE_USAGE("-I", "1023");
	PARSE_USAGE("-I", "1025m");
	PARSE_USAGE("-I", "2g");
	PARSE_USAGE("-I", "abc");
	PARSE_USAGE("-I", "1x");
	PARSE_USAGE("-I", "1kk");
	PARSE_USAGE("-I", "-1k");
	PARSE_USAGE("-I", "99999999999999999999k");
	/* memcached's rule: -I may be at most half of -m */
	settings_init();
	VALIDATE_USAGE("-I", "64m", "-m", "100");
	settings_init();
	PARSE_OK("-I", "32m", "-m", "64");
	ck_assert_int_eq(validate(), 0);
	settings_init();
	VALIDATE_USAGE("-m", "1");
	settings_init();
	VALIDATE_USAGE("-I", "2k", "-n", "4096");
}
END_TEST

START_TEST(test_memory)
{
	PARSE_OK("-m", "1024");
	ck_assert_uint_eq(settings.maxbytes, 1024 * MB);
	PARSE_OK("-m", "1g");
	ck_assert_uint_eq(settings.maxbytes, 1024 * MB);
	PARSE_OK("-m", "64m");
	ck_assert_uint_eq(settings.maxbytes, 64 * MB);
	PARSE_OK("-m", "4096k");
	ck_assert_uint_eq(settings.maxbytes, 4 * MB);
	PARSE_USAGE("-m", "0");
	PARSE_USAGE("-m", "abc");
	PARSE_USAGE("-m", "-5");
	PARSE_USAGE("-m", "");
}
END_TEST

START_TEST(test_numbers)
{
	PARSE_USAGE("-p", "abc");
	PARSE_USAGE("-p", "12x");
	PARSE_USAGE("-c", "");
	PARSE_USAGE("-f", "fast");
	PARSE_USAGE("-f", "inf");
	PARSE_USAGE("-n", "1.5");
	PARSE_USAGE("-R", "99999999999");
	PARSE_USAGE("-a", "999");
	PARSE_USAGE("-a", "1777");
	PARSE_USAGE("-X", "x");
	PARSE_USAGE("-U", "u");
	PARSE_USAGE("-t", "many");
	PARSE_USAGE("-b", "");
}
END_TEST

/* Port rules shared with memcached, and the default replication port. */
START_TEST(test_ports)
{
	ck_assert_int_eq(PARSE("-p", "-1"), 0);
	ck_assert_int_eq(validate(), 0);
	settings_init();
	/* -U without -p: TCP on the same number */
	ck_assert_int_eq(PARSE("-U", "11222"), 0);
	ck_assert_int_eq(settings.port, 11222);
	settings_init();
	ck_assert_int_eq(PARSE("-p", "11300", "-U", "11222"), 0);
	ck_assert_int_eq(settings.port, 11300);
	settings_init();
	/* -p on the default replication port: replication off, one warning */
	ck_assert_int_eq(PARSE("-p", "11212"), 0);
	ck_assert_int_eq(err_lines, 1);
	ck_assert_int_eq(settings.repl_port, 0);
	ck_assert_int_eq(validate(), 0);
	settings_init();
	VALIDATE_USAGE("-p", "11212", "-X", "11212");
	settings_init();
	VALIDATE_USAGE("-p", "11212", "-x", "127.0.0.2");
}
END_TEST

START_TEST(test_validate_errors)
{
	VALIDATE_USAGE("-p", "70000");
	settings_init();
	VALIDATE_USAGE("-p", "-2");
	settings_init();
	VALIDATE_USAGE("-U", "65536");
	ck_assert_int_eq(count_lines(err_text), 1);
	settings_init();
	VALIDATE_USAGE("-f", "1.0");
	settings_init();
	VALIDATE_USAGE("-f", "0.5");
	settings_init();
	VALIDATE_USAGE("-n", "0");
	settings_init();
	VALIDATE_USAGE("-c", "0");
	settings_init();
	VALIDATE_USAGE("-R", "0");
	settings_init();
	VALIDATE_USAGE("-b", "0");
	settings_init();
	VALIDATE_USAGE("-t", "0");
	settings_init();
	VALIDATE_USAGE("-X", "65536");
	settings_init();
	VALIDATE_USAGE("-X", "-2");
	settings_init();
	PARSE_OK("-p", "0", "-X", "65535");
	ck_assert_int_eq(validate(), 0);
}
END_TEST

START_TEST(test_replication_flags)
{
	PARSE_OK("-x", "127.0.0.2", "-X", "11400", "-q", "8192");
	ck_assert_str_eq(settings.repl_peer, "127.0.0.2");
	ck_assert_int_eq(settings.repl_port, 11400);
	ck_assert_uint_eq(settings.repl_qsize, 8192);
	ck_assert_int_eq(validate(), 0);
	/* the last -x wins */
	PARSE_OK("-x", "a", "-x", "b");
	ck_assert_str_eq(settings.repl_peer, "b");
	/* -X 0 turns replication off, which -x contradicts */
	settings_init();
	PARSE_OK("-X", "0");
	ck_assert_int_eq(validate(), 0);
	VALIDATE_USAGE("-x", "127.0.0.2", "-X", "0");
	/* replication and client ports must differ */
	settings_init();
	VALIDATE_USAGE("-p", "12000", "-X", "12000");
	settings_init();
	PARSE_USAGE("-q", "0");
	PARSE_USAGE("-q", "-5");
	PARSE_USAGE("-q", "many");
	PARSE_USAGE("-x", "");
	PARSE_USAGE("-x");
}
END_TEST

START_TEST(test_subopts_known)
{
	PARSE_OK("-o", "hashpower=16,idle_timeout=30,no_maxconns_fast,modern");
	ck_assert_int_eq(settings.hashpower_init, 16);
	ck_assert_int_eq(settings.idle_timeout, 30);
	ck_assert(!settings.maxconns_fast);
	PARSE_OK("-o", "maxconns_fast", "-o", "no_modern");
	ck_assert(settings.maxconns_fast);
	PARSE_OK("-o", "repl_timeout=7,repl_backlog=16m,repl_sync", "-o",
	         "repl_sync_timeout=250,repl_secret=/etc/mc.secret", "-o",
	         "tombstone_ttl=0");
	ck_assert_int_eq(settings.repl_timeout, 7);
	ck_assert_uint_eq(settings.repl_backlog, 16 * MB);
	ck_assert(settings.repl_sync);
	ck_assert_int_eq(settings.repl_sync_timeout_ms, 250);
	ck_assert_str_eq(settings.repl_secret_file, "/etc/mc.secret");
	ck_assert_int_eq(settings.tombstone_ttl, 0);
	PARSE_OK("-o", "repl_backlog=1g,no_repl_sync,tombstone_ttl=120");
	ck_assert_uint_eq(settings.repl_backlog, 1024 * MB);
	ck_assert(!settings.repl_sync);
	ck_assert_int_eq(settings.tombstone_ttl, 120);
	PARSE_OK("-o", "repl_backlog=4096");
	ck_assert_uint_eq(settings.repl_backlog, 4096);
	PARSE_OK("-o", "repl_ready_timeout=0");
	ck_assert_int_eq(settings.repl_ready_timeout, 0);
	PARSE_OK("-o", "repl_ready_timeout=600");
	ck_assert_int_eq(settings.repl_ready_timeout, 600);
	ck_assert_int_eq(validate(), 0);
}
END_TEST

/* The crawler and slab options memcached's tests use are applied. */
START_TEST(test_subopts_crawler)
{
	ck_assert(settings.lru_crawler);
	ck_assert(settings.slab_reassign);
	ck_assert_int_eq(settings.slab_automove, 1);
	PARSE_OK("-o", "no_modern");
	ck_assert(!settings.lru_crawler);
	ck_assert(!settings.slab_reassign);
	ck_assert_int_eq(settings.slab_automove, 0);
	PARSE_OK("-o", "lru_crawler,slab_reassign,slab_automove=2,"
	               "lru_crawler_sleep=50,lru_crawler_tocrawl=7,"
	               "temporary_ttl=61,slab_automove_window=3");
	ck_assert(settings.lru_crawler);
	ck_assert(settings.slab_reassign);
	ck_assert_int_eq(settings.slab_automove, 2);
	ck_assert_uint_eq(settings.lru_crawler_sleep, 50);
	ck_assert_uint_eq(settings.lru_crawler_tocrawl, 7);
	ck_assert(settings.temp_lru);
	ck_assert_uint_eq(settings.temporary_ttl, 61);
	ck_assert_uint_eq(settings.slab_automove_window, 3);
	ck_assert_int_eq(PARSE("-o", "slab_automove=3"), EX_USAGE_CODE);
	ck_assert_int_eq(PARSE("-o", "lru_crawler_sleep=2000000"),
	                 EX_USAGE_CODE);
}
END_TEST

START_TEST(test_subopts_ignored)
{
	static const char *const names[] = {
	    "hot_lru_pct=20",
	    "warm_lru_pct=40",
	    "hot_max_factor=0.2",
	    "warm_max_factor=2.0",
	    "tail_repair_time=0",
	    "watcher_logbuf_size=256",
	    "worker_logbuf_size=64",
	    "read_buf_mem_limit=0",
	    "track_sizes",
	    "no_hashexpand",
	    "slab_automove_ratio=0.8",
	    "slab_chunk_max=512",
	    "no_inline_ascii_resp",
	    "resp_obj_mem_limit=0",
	    "ext_path=/mnt/d1/extstore:1G",
	    "ext_page_size=64",
	    "ext_threads=1",
	    "ext_item_size=512",
	    "ext_max_frag=0.8",
	    "ssl_chain_cert=/x",
	    "ssl_key=/k",
	    "ssl_verify_mode=0",
	    "ssl_min_version=2",
	    "hash_algorithm=xxh3",
	};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		ck_assert_msg(PARSE("-o", names[i]) == 0, "%s", names[i]);
		ck_assert_msg(err_lines == 1, "%s: %s", names[i], err_text);
	}
	ck_assert_int_eq(PARSE("-o", "track_sizes,slab_chunk_max=512"), 0);
	ck_assert_int_eq(err_lines, 2);
	/* ignored options change nothing */
	settings_init();
	ck_assert_int_eq(PARSE("-o", "track_sizes"), 0);
	ck_assert_int_eq(settings.hashpower_init, 0);
	ck_assert(settings.maxconns_fast);
}
END_TEST

START_TEST(test_subopts_errors)
{
	PARSE_USAGE("-o", "foo");
	ck_assert_ptr_nonnull(strstr(err_text, "foo"));
	PARSE_USAGE("-o", "idle_timeout=5,bogus=1");
	PARSE_USAGE("-o", "hashpower=16,,idle_timeout=5");
	PARSE_USAGE("-o", "");
	PARSE_USAGE("-o", "hashpower");
	PARSE_USAGE("-o", "hashpower=11");
	PARSE_USAGE("-o", "hashpower=33");
	PARSE_USAGE("-o", "hashpower=x");
	PARSE_USAGE("-o", "idle_timeout=-1");
	PARSE_USAGE("-o", "idle_timeout");
	PARSE_USAGE("-o", "hash_algorithm=md5");
	PARSE_USAGE("-o", "repl_timeout=0");
	PARSE_USAGE("-o", "repl_timeout");
	PARSE_USAGE("-o", "repl_backlog=lots");
	PARSE_USAGE("-o", "repl_sync_timeout=0");
	PARSE_USAGE("-o", "repl_ready_timeout=-1");
	PARSE_USAGE("-o", "repl_ready_timeout=86401");
	PARSE_USAGE("-o", "repl_ready_timeout");
	PARSE_USAGE("-o", "repl_secret");
	PARSE_USAGE("-o", "repl_secret=");
	PARSE_USAGE("-o", "tombstone_ttl=-1");
	PARSE_USAGE("-o", "ext_foo=1");
	PARSE_USAGE("-o");
}
END_TEST

START_TEST(test_bad_flags)
{
	PARSE_USAGE("-Q");
	ck_assert_ptr_nonnull(strstr(err_text, "invalid option"));
	PARSE_USAGE("--bogus");
	ck_assert_ptr_nonnull(strstr(err_text, "--bogus"));
	PARSE_USAGE("-p");
	ck_assert_ptr_nonnull(strstr(err_text, "requires an argument"));
	PARSE_USAGE("--port");
	ck_assert_ptr_nonnull(strstr(err_text, "--port"));
	PARSE_USAGE("-p", "1", "stray");
	/* warnings of a command line that fails are not printed */
	PARSE_USAGE("-U", "5", "-k", "-o", "lru_crawler", "-Q");
	ck_assert_ptr_null(strstr(err_text, "UDP"));
	PARSE_USAGE("-k", "-o", "lru_crawler,nonsense");
	ck_assert_ptr_nonnull(strstr(err_text, "nonsense"));
	ck_assert_int_eq(PARSE("-k", "-h"), 1);
	ck_assert_int_eq(err_lines, 0);
	/* parsing stops at the first error */
	settings_init();
	PARSE_USAGE("-Q", "-p", "5");
	ck_assert_int_eq(settings.port, 11211);
}
END_TEST

START_TEST(test_help_version_license)
{
	ck_assert_int_eq(PARSE("-h"), 1);
	ck_assert_int_eq(err_lines, 0);
	ck_assert(
	    has_line_matching(out_text, "^memcached " MEMCACHED_VERSION "$"));
	ck_assert(strncmp(out_text, "memcached " MEMCACHED_VERSION "\n",
	                  strlen("memcached " MEMCACHED_VERSION "\n")) == 0);
	ck_assert(has_line_matching(out_text, "^-p.*<num>.*TCP port"));
	ck_assert(has_line_matching(out_text,
	                            "^-x.*<ip_addr>.*hostname or IP address "
	                            "of peer"));
	ck_assert(has_line_matching(out_text, "^-X.*<num>"));
	ck_assert(has_line_matching(out_text, "^-q.*<num>"));
	ck_assert(has_line_matching(out_text, "^-o, --extended"));
	ck_assert(has_line_matching(out_text, "repl_timeout"));
	ck_assert_int_eq(PARSE("--help"), 1);
	ck_assert(has_line_matching(out_text, "^-p, --port=<num>"));

	ck_assert_int_eq(PARSE("-V"), 1);
	ck_assert_str_eq(out_text, "memcached " MEMCACHED_VERSION "\n");
	ck_assert_int_eq(PARSE("--version"), 1);
	ck_assert_str_eq(out_text, "memcached " MEMCACHED_VERSION "\n");

	ck_assert_int_eq(PARSE("-i"), 1);
	ck_assert(has_line_matching(out_text, "^BSD 3-Clause License$"));
	ck_assert_int_eq(PARSE("--license"), 1);

	/* -h wins even after other flags */
	ck_assert_int_eq(PARSE("-p", "1", "-h"), 1);
}
END_TEST

START_TEST(test_pidfile_relative)
{
	char cwd[PATH_MAX], want[PATH_MAX + 16];

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	snprintf(want, sizeof want, "%s/mc.pid", cwd);
	PARSE_OK("-P", "mc.pid");
	ck_assert_str_eq(settings.pid_file, want);
}
END_TEST

/* daemon.c */

START_TEST(test_pidfile_write_remove)
{
	char path[] = "/tmp/test_settings_pidXXXXXX", buf[64];
	FILE *f, *terr;
	int fd, serr;
	long pid = 0;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	daemon_write_pidfile(path);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
	fclose(f);
	pid = strtol(buf, NULL, 10);
	ck_assert_int_eq(pid, (long)getpid());
	ck_assert(buf[strlen(buf) - 1] == '\n');
	daemon_remove_pidfile(path);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* removing it again is silent */
	serr = capture_start(STDERR_FILENO, &terr);
	daemon_remove_pidfile(path);
	daemon_remove_pidfile(NULL);
	daemon_write_pidfile(NULL);
	capture_end(STDERR_FILENO, serr, terr, err_text, sizeof err_text);
	ck_assert_str_eq(err_text, "");
	/* an unwritable path warns and carries on */
	serr = capture_start(STDERR_FILENO, &terr);
	daemon_write_pidfile("/nonexistent-dir/x.pid");
	capture_end(STDERR_FILENO, serr, terr, err_text, sizeof err_text);
	ck_assert_int_eq(count_lines(err_text), 1);
}
END_TEST

/* As root without -u, we refuse with exit code 64 (runs in a fork). */
START_TEST(test_root_without_user)
{
	ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
	if (getuid() != 0) {
		/* unprivileged: nothing to drop, returns */
		daemon_drop_privileges(NULL);
		exit(EX_USAGE_CODE);
	}
	daemon_drop_privileges(NULL);
}
END_TEST

START_TEST(test_root_unknown_user)
{
	ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
	if (getuid() != 0)
		exit(EX_USAGE_CODE);
	daemon_drop_privileges("no-such-user-hopefully");
}
END_TEST

START_TEST(test_drop_to_nobody)
{
	struct passwd *pw = getpwnam("nobody");

	if (getuid() != 0 || pw == NULL)
		return;
	daemon_drop_privileges("nobody");
	ck_assert_int_eq(getuid(), pw->pw_uid);
	ck_assert_int_eq(geteuid(), pw->pw_uid);
	ck_assert_int_eq(getgid(), pw->pw_gid);
	ck_assert_int_ne(setuid(0), 0);
}
END_TEST

START_TEST(test_root_as_root)
{
	daemon_drop_privileges("root");
	if (getuid() == 0)
		ck_assert_int_eq(geteuid(), 0);
}
END_TEST

START_TEST(test_limits)
{
	struct rlimit rl;

	daemon_set_limits(1024, 0);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert(rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 1024);
	daemon_set_limits(1, 1);
	ck_assert_int_eq(getrlimit(RLIMIT_CORE, &rl), 0);
	ck_assert(rl.rlim_cur == rl.rlim_max);
}
END_TEST

/* More descriptors than the kernel allows: exits 71 (runs in a fork). */
START_TEST(test_limits_impossible)
{
	ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
	daemon_set_limits(INT_MAX, 0);
}
END_TEST

/* Builds the suite. */
static Suite *
settings_suite(void)
{
	const char *fork_env = getenv("CK_FORK");
	bool nofork = fork_env != NULL && strcmp(fork_env, "no") == 0;
	Suite *s = suite_create("settings");
	TCase *tc = tcase_create("parse");
	TCase *td = tcase_create("daemon");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_short_flags);
	tcase_add_test(tc, test_long_flags);
	tcase_add_test(tc, test_verbose_count);
	tcase_add_test(tc, test_protocol);
	tcase_add_test(tc, test_ignored_flags);
	tcase_add_test(tc, test_refused_security_flags);
	tcase_add_test(tc, test_listen_lists);
	tcase_add_test(tc, test_split_listen);
	tcase_add_test(tc, test_item_size);
	tcase_add_test(tc, test_memory);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_validate_errors);
	tcase_add_test(tc, test_ports);
	tcase_add_test(tc, test_replication_flags);
	tcase_add_test(tc, test_subopts_known);
	tcase_add_test(tc, test_subopts_crawler);
	tcase_add_test(tc, test_subopts_ignored);
	tcase_add_test(tc, test_subopts_errors);
	tcase_add_test(tc, test_bad_flags);
	tcase_add_test(tc, test_help_version_license);
	tcase_add_test(tc, test_pidfile_relative);
	suite_add_tcase(s, tc);

	tcase_add_test(td, test_pidfile_write_remove);
	tcase_add_test(td, test_root_as_root);
	tcase_add_test(td, test_limits);
	/* These exit or change our identity: they need Check's fork mode. */
	if (!nofork) {
		tcase_add_exit_test(td, test_root_without_user, EX_USAGE_CODE);
		tcase_add_exit_test(td, test_root_unknown_user, EX_USAGE_CODE);
		tcase_add_test(td, test_drop_to_nobody);
		tcase_add_exit_test(td, test_limits_impossible, 71);
	}
	suite_add_tcase(s, td);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(settings_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
