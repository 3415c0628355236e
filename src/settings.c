/* settings.c: the command line. Defaults, getopt_long parsing of every
 * memcached 1.6 flag plus the replication flags (-x -X -q), the -o
 * sub-options, cross-field validation, and the -h / -V / -i texts. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "settings.h"
#include "util.h"

#define KB ((uint64_t)1024)
#define MB (KB * 1024)
#define GB (MB * 1024)

#define ITEM_SIZE_MIN 1024          /* -I lower bound */
#define ITEM_SIZE_LIMIT (1024 * MB) /* -I upper bound */
#define HASHPOWER_MIN 12            /* -o hashpower bounds */
#define HASHPOWER_MAX 32
#define REPL_QSIZE_DEFAULT 65536 /* -q: records queued to the peer */
#define REPL_QSIZE_LIMIT (1 << 30)

struct settings settings;

/* Warnings are held until the whole command line parsed, so that a bad
 * flag prints exactly one line. */
#define MAX_WARNINGS 32
static char *warnings[MAX_WARNINGS];
static int nwarnings;

/* One -o sub-option: apply == NULL means "accepted, ignored with a warning". */
struct subopt {
	const char *name;
	int (*apply)(const char *name, const char *value);
};

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void parse_warn(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void flush_warnings(bool print);
static void free_strings(void);
static bool parse_long(const char *s, long min, long max, long *out);
static bool parse_int_opt(int opt, const char *arg, long min, long max,
                          int *out);
static bool parse_double(const char *s, double *out);
static bool parse_size(const char *s, uint64_t unit, uint64_t *out);
static int set_string(char **dst, const char *arg);
static int add_listen(const char *arg);
static int parse_memory(const char *arg);
static int parse_item_size(const char *arg);
static int parse_protocol(const char *arg);
static int parse_access(const char *arg);
static int parse_subopts(const char *arg);
static int parse_one_subopt(char *tok);
static int so_maxconns_fast(const char *name, const char *value);
static int so_hashpower(const char *name, const char *value);
static int so_idle_timeout(const char *name, const char *value);
static int so_quiet(const char *name, const char *value);
static int so_hash_algorithm(const char *name, const char *value);
static int so_repl_timeout(const char *name, const char *value);
static int so_repl_backlog(const char *name, const char *value);
static int so_repl_sync(const char *name, const char *value);
static int so_repl_sync_timeout(const char *name, const char *value);
static int so_repl_ready_timeout(const char *name, const char *value);
static int so_repl_secret(const char *name, const char *value);
static int so_tombstone_ttl(const char *name, const char *value);
static int so_no_modern(const char *name, const char *value);
static int so_flag(const char *name, const char *value);
static int so_u32(const char *name, const char *value);
static int so_slab_automove(const char *name, const char *value);
static int so_reported(const char *name, const char *value);
/* logging (ours) */
static int so_log_file(const char *name, const char *value);
static int so_syslog(const char *name, const char *value);
static int make_absolute(char **path);
static int ignored_flag(const char *what);
static int refused_flag(const char *what);
static int make_pidfile_absolute(void);
static void print_license(FILE *out);

/* The -o sub-options: ours, memcached's implemented ones, and the rest of
 * memcached 1.6's documented list (accepted and ignored with a warning). */
static const struct subopt subopts[] = {
    /* implemented */
    {"maxconns_fast", so_maxconns_fast},
    {"no_maxconns_fast", so_maxconns_fast},
    {"hashpower", so_hashpower},
    {"idle_timeout", so_idle_timeout},
    {"modern", so_quiet},
    {"no_modern", so_no_modern},
    {"hash_algorithm", so_hash_algorithm},
    /* replication (ours) */
    {"repl_timeout", so_repl_timeout},
    {"repl_backlog", so_repl_backlog},
    {"repl_sync", so_repl_sync},
    {"no_repl_sync", so_repl_sync},
    {"repl_sync_timeout", so_repl_sync_timeout},
    {"repl_ready_timeout", so_repl_ready_timeout},
    {"repl_secret", so_repl_secret},
    {"tombstone_ttl", so_tombstone_ttl},
    /* the LRU crawler and slab rebalancing (crawler.c, slabs.c) */
    {"lru_crawler", so_flag},
    {"no_lru_crawler", so_flag},
    {"lru_crawler_sleep", so_u32},
    {"lru_crawler_tocrawl", so_u32},
    {"lru_maintainer", so_flag},
    {"no_lru_maintainer", so_flag},
    {"lru_segmented", so_flag},
    {"no_lru_segmented", so_flag},
    {"temporary_ttl", so_u32},
    {"slab_reassign", so_flag},
    {"no_slab_reassign", so_flag},
    {"slab_automove", so_slab_automove},
    {"no_slab_automove", so_slab_automove},
    {"slab_automove_window", so_u32},
    /* logging (ours) */
    {"log_file", so_log_file},
    {"syslog", so_syslog},
    /* memcached's, without meaning here */
    {"tail_repair_time", so_reported},
    {"hot_lru_pct", NULL},
    {"warm_lru_pct", NULL},
    {"hot_max_factor", NULL},
    {"warm_max_factor", NULL},
    {"watcher_logbuf_size", so_reported},
    {"worker_logbuf_size", so_reported},
    {"read_buf_mem_limit", so_reported},
    {"resp_obj_mem_limit", NULL},
    {"track_sizes", NULL},
    {"no_hashexpand", NULL},
    {"slab_automove_ratio", so_reported},
    {"slab_automove_freeratio", so_reported},
    {"slab_chunk_max", so_reported},
    {"slab_sizes", NULL},
    {"no_inline_ascii_resp", NULL},
    {"inline_ascii_resp", NULL},
    {"no_chunked_items", NULL},
    {"drop_privileges", NULL},
    {"no_drop_privileges", NULL},
    {"relaxed_privileges", NULL},
    {"sock_cookie_id", NULL},
    {"ext_path", NULL},
    {"ext_page_size", NULL},
    {"ext_wbuf_size", NULL},
    {"ext_threads", NULL},
    {"ext_io_depth", NULL},
    {"ext_item_size", NULL},
    {"ext_item_age", NULL},
    {"ext_low_ttl", NULL},
    {"ext_drop_unread", NULL},
    {"no_ext_drop_unread", NULL},
    {"ext_recache_rate", NULL},
    {"ext_compact_under", NULL},
    {"ext_drop_under", NULL},
    {"ext_max_frag", NULL},
    {"ext_max_sleep", NULL},
    {"ssl_chain_cert", NULL},
    {"ssl_key", NULL},
    {"ssl_keyformat", NULL},
    {"ssl_verify_mode", NULL},
    {"ssl_ciphers", NULL},
    {"ssl_ca_cert", NULL},
    {"ssl_wbuf_size", NULL},
    {"ssl_session_cache", NULL},
    {"ssl_kernel_tls", NULL},
    {"ssl_min_version", NULL},
};

enum { OPT_DISABLE_DUMPING = 256 };

/* Long names as memcached 1.6 spells them; -x, -X and -q are ours (our -X
 * replaces memcached's --disable-dumping, still accepted by its long name). */
static const struct option long_opts[] = {
    {"port", required_argument, NULL, 'p'},
    {"udp-port", required_argument, NULL, 'U'},
    {"unix-socket", required_argument, NULL, 's'},
    {"unix-mask", required_argument, NULL, 'a'},
    {"enable-shutdown", no_argument, NULL, 'A'},
    {"listen", required_argument, NULL, 'l'},
    {"daemon", no_argument, NULL, 'd'},
    {"enable-coredumps", no_argument, NULL, 'r'},
    {"user", required_argument, NULL, 'u'},
    {"memory-limit", required_argument, NULL, 'm'},
    {"disable-evictions", no_argument, NULL, 'M'},
    {"conn-limit", required_argument, NULL, 'c'},
    {"lock-memory", no_argument, NULL, 'k'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"license", no_argument, NULL, 'i'},
    {"version", no_argument, NULL, 'V'},
    {"pidfile", required_argument, NULL, 'P'},
    {"slab-growth-factor", required_argument, NULL, 'f'},
    {"slab-min-size", required_argument, NULL, 'n'},
    {"enable-largepages", no_argument, NULL, 'L'},
    {"threads", required_argument, NULL, 't'},
    {"max-reqs-per-event", required_argument, NULL, 'R'},
    {"disable-cas", no_argument, NULL, 'C'},
    {"listen-backlog", required_argument, NULL, 'b'},
    {"protocol", required_argument, NULL, 'B'},
    {"max-item-size", required_argument, NULL, 'I'},
    {"enable-sasl", no_argument, NULL, 'S'},
    {"disable-flush-all", no_argument, NULL, 'F'},
    {"disable-dumping", no_argument, NULL, OPT_DISABLE_DUMPING},
    {"disable-watch", no_argument, NULL, 'W'},
    {"auth-file", required_argument, NULL, 'Y'},
    {"memory-file", required_argument, NULL, 'e'},
    {"enable-ssl", no_argument, NULL, 'Z'},
    {"extended", required_argument, NULL, 'o'},
    {"napi_ids", required_argument, NULL, 'N'},
    {"peer", required_argument, NULL, 'x'},
    {"repl-port", required_argument, NULL, 'X'},
    {"repl-queue", required_argument, NULL, 'q'},
    {NULL, 0, NULL, 0},
};

static const char short_opts[] =
    ":p:U:s:a:Al:dru:m:Mc:kvhiVP:f:n:LD:t:R:Cb:B:I:SFWY:e:Zo:N:x:X:q:";

/* The -h text, one option a line in memcached's layout. */
static const char *const usage_lines[] = {
    "-p, --port=<num>          TCP port to listen on (default: 11211)",
    "-U, --udp-port=<num>      UDP port (accepted; UDP is not served)",
    "-s, --unix-socket=<file>  UNIX socket to listen on (disables network "
    "support)",
    "-a, --unix-mask=<mask>    access mask for UNIX socket, in octal "
    "(default: 700)",
    "-A, --enable-shutdown     enable ascii \"shutdown\" command",
    "-l, --listen=<addr>       interface to listen on (default: INADDR_ANY)",
    "                          comma list or repeated; host, host:port or "
    "[v6]:port",
    "-d, --daemon              run as a daemon",
    "-r, --enable-coredumps    maximize core file limit",
    "-u, --user=<user>         assume identity of <username> (only when run "
    "as root)",
    "-m, --memory-limit=<num>  item memory in megabytes (default: 64)",
    "-M, --disable-evictions   return error on memory exhausted instead of "
    "evicting",
    "-c, --conn-limit=<num>    max simultaneous connections (default: 1024)",
    "-k, --lock-memory         lock down all paged memory (ignored)",
    "-v, --verbose             verbose (print errors/warnings and "
    "replication events)",
    "-vv                       very verbose (also print client "
    "commands/responses)",
    "-vvv                      extremely verbose (internal state "
    "transitions)",
    "-h, --help                print this help and exit",
    "-i, --license             print the license and exit",
    "-V, --version             print version and exit",
    "-P, --pidfile=<file>      save PID in <file> (with or without -d)",
    "-f, --slab-growth-factor=<num> chunk size growth factor (default: 1.25)",
    "-n, --slab-min-size=<bytes> min space used for key+value+flags "
    "(default: 48)",
    "-L, --enable-largepages   try to use large memory pages (if available)",
    "-D <char>                 use <char> as the delimiter between key "
    "prefixes and IDs, for per-prefix stats (\"stats detail dump\"); turns "
    "them on",
    "-t, --threads=<num>       number of threads (accepted; one event loop)",
    "-R, --max-reqs-per-event  maximum number of requests per event "
    "(default: 20)",
    "-C, --disable-cas         disable use of CAS",
    "-b, --listen-backlog=<num> set the backlog queue limit (default: 1024)",
    "-B, --protocol=<name>     protocol - one of ascii, binary, or auto "
    "(default: auto-negotiate)",
    "-I, --max-item-size=<num> adjusts max item size",
    "                          (default: 1m, min: 1k, max: 1024m)",
    "-S, --enable-sasl         turn on Sasl authentication (not supported)",
    "-F, --disable-flush-all   disable flush_all command",
    "-W, --disable-watch       disable watch commands (accepted)",
    "    --disable-dumping     memcached's -X: accepted by this long name "
    "only",
    "                          (-X is the replication port here)",
    "-Y, --auth-file=<file>    ASCII authentication (not supported)",
    "-e, --memory-file=<file>  mmap a file for item memory (ignored)",
    "-Z, --enable-ssl          enable TLS/SSL (not supported)",
    "-N, --napi_ids=<num>      number of napi ids (ignored)",
    "-x, --peer=<ip_addr>      hostname or IP address of peer",
    "-X, --repl-port=<num>     TCP port number for replication "
    "(default: 11212, 0: off)",
    "-q, --repl-queue=<num>    max replication queue, in records "
    "(default: 65536)",
    "-o, --extended            comma separated list of extended options",
    "                          most options have a 'no_' prefix to disable",
    "   - maxconns_fast:       immediately close new connections after limit "
    "(default: enabled)",
    "   - hashpower:           initial hash table size as a power of two "
    "(12..32)",
    "   - idle_timeout:        timeout for idle connections. (default: 0, no "
    "timeout)",
    "   - modern:              accepted (the defaults)",
    "   - no_modern:           no LRU crawler or maintainer, flat LRU, no "
    "slab rebalancing",
    "   - lru_crawler:         the LRU crawler commands (default: enabled)",
    "   - lru_crawler_sleep:   microseconds between crawl slices "
    "(default: 100)",
    "   - lru_crawler_tocrawl: items checked per class per crawl "
    "(default: 0, all)",
    "   - lru_maintainer:      HOT/WARM/COLD upkeep every 10 ms "
    "(default: enabled)",
    "   - lru_segmented:       HOT/WARM/COLD LRUs (default: enabled)",
    "   - temporary_ttl:       items expiring sooner go to a TEMP LRU",
    "   - slab_reassign:       allow moving slab pages (default: enabled)",
    "   - slab_automove:       0: off, 1: background (default), 2: on "
    "every allocation failure",
    "   - slab_automove_window: seconds a class must hold spare pages "
    "(default: 30)",
    "   - repl_timeout:        seconds without traffic before the peer is "
    "declared dead (default: 3)",
    "   - repl_backlog:        bytes kept for partial resync, k/m/g suffix "
    "(default: 64m)",
    "   - repl_sync:           answer a write only after the peer acked it",
    "   - repl_sync_timeout:   milliseconds to wait for that ack "
    "(default: 1000)",
    "   - repl_ready_timeout:  with -x, seconds to hold clients until the "
    "first copy",
    "                          from the peer is complete (default: 10, 0: "
    "never hold)",
    "   - repl_secret:         file holding the shared replication secret",
    "   - tombstone_ttl:       seconds a delete is remembered for conflict "
    "resolution (default: 60)",
    "   - log_file:            also log to this file, timestamped; SIGHUP "
    "reopens it",
    "   - syslog:              also log to syslog (facility daemon)",
    "   - every other memcached 1.6 option (hot_lru_pct, slab_chunk_max,",
    "                          ext_*, ssl_*, ...)",
    "                          is accepted and ignored with a warning",
};

/* Prints one line (memcached style, no prefix) and returns EX_USAGE_CODE. */
static int
usage_error(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	log_warnx("%s", buf);
	return EX_USAGE_CODE;
}

/* Queues one warning line for flush_warnings(). */
static void
parse_warn(const char *fmt, ...)
{
	va_list ap;
	char *w;

	if (nwarnings == MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	if (vasprintf(&w, fmt, ap) >= 0)
		warnings[nwarnings++] = w;
	va_end(ap);
}

/* Prints (when print is true) and forgets the queued warnings. */
static void
flush_warnings(bool print)
{
	int i;

	for (i = 0; i < nwarnings; i++) {
		if (print)
			log_warnx("%s", warnings[i]);
		free(warnings[i]);
		warnings[i] = NULL;
	}
	nwarnings = 0;
}

/* Frees the strings settings owns. */
static void
free_strings(void)
{
	free(settings.inter);
	free(settings.socketpath);
	free(settings.pid_file);
	free(settings.username);
	free(settings.repl_peer);
	free(settings.log_file);
	free(settings.repl_secret_file);
	free(settings.memory_file);
}

/* Fills settings with memcached's defaults (freeing any previous strings). */
void
settings_init(void)
{
	free_strings();
	memset(&settings, 0, sizeof settings);

	settings.port = 11211;
	settings.udpport = 0;
	settings.access = 0700;
	settings.backlog = 1024;
	settings.protocol = PROTO_AUTO;
	settings.verbose = 0;
	settings.num_threads = 4;

	settings.maxbytes = 64 * MB;
	settings.evict_to_free = true;
	settings.factor = 1.25;
	settings.chunk_size = 48;
	settings.item_size_max = 1 * MB;
	settings.slab_page_size = 1 * MB;
	settings.use_cas = true;
	settings.hashpower_init = 0;

	settings.maxconns = 1024;
	settings.reqs_per_event = 20;
	settings.max_conn_output = 4 * MB;
	settings.idle_timeout = 0;
	settings.maxconns_fast = true;

	settings.shutdown_command = false;
	settings.flush_enabled = true;
	settings.prefix_delimiter = ':';
	settings.detail_enabled = false;

	settings.repl_port = 11212;
	settings.repl_qsize = REPL_QSIZE_DEFAULT;
	settings.repl_timeout = 3;
	settings.repl_backlog = 64 * MB;
	settings.repl_sync = false;
	settings.repl_sync_timeout_ms = 1000;
	settings.repl_ready_timeout = 10;
	settings.tombstone_ttl = 60;

	settings.lru_crawler = true;
	settings.lru_crawler_sleep = 100;
	settings.lru_crawler_tocrawl = 0;
	settings.lru_maintainer = true;
	settings.lru_segmented = true;
	settings.hot_lru_pct = 20;
	settings.warm_lru_pct = 40;
	settings.hot_max_factor = 0.2;
	settings.warm_max_factor = 2.0;
	settings.temp_lru = false;
	settings.temporary_ttl = 61;
	settings.slab_reassign = true;
	settings.slab_automove = 1;
	settings.slab_automove_window = 30;
	settings.tail_repair_time = 0;
	settings.slab_automove_ratio = 0.8;
	settings.slab_automove_freeratio = 0.01;
	settings.slab_chunk_max = 512 * 1024;
	settings.watcher_logbuf_size = 256 * 1024;
	settings.worker_logbuf_size = 64 * 1024;
	settings.read_buf_mem_limit = 0;
	settings.memory_file = NULL;
	settings.num_napi_ids = 0;
}

/* Parses a whole decimal integer in [min, max]. Returns false on error. */
static bool
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Parses -<opt>'s integer argument into *out; prints the error on failure. */
static bool
parse_int_opt(int opt, const char *arg, long min, long max, int *out)
{
	long v;

	if (!parse_long(arg, min, max, &v)) {
		usage_error("Invalid value for -%c: '%s'", opt, arg);
		return false;
	}
	*out = (int)v;
	return true;
}

/* Parses a whole finite floating point number. Returns false on error. */
static bool
parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || end == s || !isfinite(v))
		return false;
	*out = v;
	return true;
}

/* Parses "<digits>[kmgt]" (case-insensitive suffix); without a suffix the
 * number is multiplied by unit. Returns false on syntax error or overflow. */
static bool
parse_size(const char *s, uint64_t unit, uint64_t *out)
{
	uint64_t v = 0, mult = unit;
	const char *p = s;

	if (s == NULL || *p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0') {
		switch (*p) {
		case 'k':
		case 'K':
			mult = KB;
			break;
		case 'm':
		case 'M':
			mult = MB;
			break;
		case 'g':
		case 'G':
			mult = GB;
			break;
		case 't':
		case 'T':
			mult = GB * 1024;
			break;
		default:
			return false;
		}
		if (p[1] != '\0')
			return false;
	}
	if (v != 0 && mult > UINT64_MAX / v)
		return false;
	*out = v * mult;
	return true;
}

/* Replaces *dst with a copy of arg. Returns 0, or EX_USAGE_CODE on OOM. */
static int
set_string(char **dst, const char *arg)
{
	char *s = strdup(arg);

	if (s == NULL)
		return usage_error("out of memory");
	free(*dst);
	*dst = s;
	return 0;
}

/* Splits one -l entry (host, host:port, [v6] or [v6]:port) into host and
 * port (-1 when absent). Returns 0, or -1 when the entry is malformed. */
int
settings_split_listen(const char *entry, char *host, size_t hostsz, int *port)
{
	char pstr[16];
	long v;

	if (entry == NULL ||
	    !util_split_hostport(entry, strlen(entry), host, hostsz, pstr,
	                         sizeof pstr) ||
	    host[0] == '\0')
		return -1;
	if (pstr[0] == '\0') {
		*port = -1;
		return 0;
	}
	if (!parse_long(pstr, 0, 65535, &v))
		return -1;
	*port = (int)v;
	return 0;
}

/* Checks every entry of one -l argument and appends it to settings.inter
 * (joined with ','). Returns 0 or EX_USAGE_CODE. */
static int
add_listen(const char *arg)
{
	char host[256];
	char *copy, *tok, *save = NULL, *joined;
	size_t oldlen, arglen = strlen(arg);
	int port, rc = 0;

	copy = strdup(arg);
	if (copy == NULL)
		return usage_error("out of memory");
	if (arglen == 0 || arg[0] == ',' || arg[arglen - 1] == ',' ||
	    strstr(arg, ",,") != NULL)
		rc = usage_error("Invalid listen address: '%s'", arg);
	for (tok = strtok_r(copy, ",", &save); rc == 0 && tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (settings_split_listen(tok, host, sizeof host, &port) != 0)
			rc = usage_error("Invalid listen address: '%s'", tok);
	}
	free(copy);
	if (rc != 0)
		return rc;

	oldlen = settings.inter ? strlen(settings.inter) : 0;
	joined = realloc(settings.inter, oldlen + 1 + arglen + 1);
	if (joined == NULL)
		return usage_error("out of memory");
	if (oldlen == 0)
		memcpy(joined, arg, arglen + 1);
	else {
		joined[oldlen] = ',';
		memcpy(joined + oldlen + 1, arg, arglen + 1);
	}
	settings.inter = joined;
	return 0;
}

/* -m: megabytes, or a number with a k/m/g/t suffix. Returns 0 or 64. */
static int
parse_memory(const char *arg)
{
	uint64_t v;

	if (!parse_size(arg, MB, &v) || v == 0 || v > SIZE_MAX / 2)
		return usage_error("Invalid value for -m: '%s'", arg);
	settings.maxbytes = (size_t)v;
	return 0;
}

/* -I: bytes, or with a k/m suffix; between 1k and 1024m. Returns 0 or 64. */
static int
parse_item_size(const char *arg)
{
	uint64_t v;

	if (!parse_size(arg, 1, &v))
		return usage_error("Invalid value for -I: '%s'", arg);
	if (v < ITEM_SIZE_MIN)
		return usage_error(
		    "Item max size cannot be less than %d bytes.",
		    ITEM_SIZE_MIN);
	if (v > ITEM_SIZE_LIMIT)
		return usage_error(
		    "Cannot set item size limit higher than a gigabyte.");
	settings.item_size_max = (size_t)v;
	return 0;
}

/* -B: ascii, binary or auto. Returns 0 or 64. */
static int
parse_protocol(const char *arg)
{
	if (strcmp(arg, "auto") == 0)
		settings.protocol = PROTO_AUTO;
	else if (strcmp(arg, "ascii") == 0)
		settings.protocol = PROTO_ASCII;
	else if (strcmp(arg, "binary") == 0)
		settings.protocol = PROTO_BINARY;
	else
		return usage_error("Invalid value for binding protocol: %s -- "
		                   "should be one of auto, binary, or ascii",
		                   arg);
	return 0;
}

/* -a: the unix socket mask, in octal, 0..777. Returns 0 or 64. */
static int
parse_access(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 8);
	if (errno != 0 || end == arg || *end != '\0' || v < 0 || v > 0777)
		return usage_error("Invalid value for -a: '%s' (octal mask, "
		                   "0..777)",
		                   arg);
	settings.access = (int)v;
	return 0;
}

/* -o maxconns_fast / no_maxconns_fast. */
static int
so_maxconns_fast(const char *name, const char *value)
{
	(void)value;
	settings.maxconns_fast = strncmp(name, "no_", 3) != 0;
	return 0;
}

/* -o hashpower=<12..32>. */
static int
so_hashpower(const char *name, const char *value)
{
	long v;

	if (value == NULL)
		return usage_error("Missing numeric argument for %s", name);
	if (!parse_long(value, LONG_MIN, LONG_MAX, &v))
		return usage_error("Invalid value for hashpower: '%s'", value);
	if (v < HASHPOWER_MIN)
		return usage_error("Initial hashtable multiplier of %ld is too "
		                   "low",
		                   v);
	if (v > HASHPOWER_MAX)
		return usage_error("Initial hashtable multiplier of %ld is too "
		                   "high",
		                   v);
	settings.hashpower_init = (int)v;
	return 0;
}

/* -o idle_timeout=<seconds>, 0 = off. */
static int
so_idle_timeout(const char *name, const char *value)
{
	long v;

	if (value == NULL)
		return usage_error("Missing numeric argument for %s", name);
	if (!parse_long(value, 0, INT_MAX, &v))
		return usage_error("Invalid value for idle_timeout: '%s'",
		                   value);
	settings.idle_timeout = (int)v;
	return 0;
}

/* Sub-options accepted silently because they change nothing here. */
static int
so_quiet(const char *name, const char *value)
{
	(void)name;
	(void)value;
	return 0;
}

/* -o hash_algorithm: checks the name as memcached does, then ignores it. */
static int
so_hash_algorithm(const char *name, const char *value)
{
	if (value == NULL ||
	    (strcmp(value, "jenkins") != 0 && strcmp(value, "murmur3") != 0 &&
	     strcmp(value, "xxh3") != 0))
		return usage_error(
		    "Unknown hash_algorithm option (jenkins, murmur3, xxh3)");
	parse_warn("-o %s: not supported here, ignored", name);
	return 0;
}

/* -o repl_timeout=<seconds>. */
static int
so_repl_timeout(const char *name, const char *value)
{
	long v;

	if (value == NULL)
		return usage_error("Missing numeric argument for %s", name);
	if (!parse_long(value, 1, 86400, &v))
		return usage_error("Invalid value for repl_timeout: '%s' "
		                   "(1..86400 seconds)",
		                   value);
	settings.repl_timeout = (int)v;
	return 0;
}

/* -o repl_backlog=<bytes>[k|m|g]. */
static int
so_repl_backlog(const char *name, const char *value)
{
	uint64_t v;

	if (value == NULL)
		return usage_error("Missing numeric argument for %s", name);
	if (!parse_size(value, 1, &v) || v > SIZE_MAX / 2)
		return usage_error("Invalid value for repl_backlog: '%s'",
		                   value);
	settings.repl_backlog = (size_t)v;
	return 0;
}

/* -o repl_sync / no_repl_sync. */
static int
so_repl_sync(const char *name, const char *value)
{
	(void)value;
	settings.repl_sync = strncmp(name, "no_", 3) != 0;
	return 0;
}

/* -o repl_sync_timeout=<milliseconds>. */
static int
so_repl_sync_timeout(const char *name, const char *value)
{
	long v;

	if (value == NULL)
		return usage_error("Missing numeric argument for %s", name);
	if (!parse_long(value, 1, 3600000, &v))
		return usage_error("Invalid value for repl_sync_timeout: '%s' "
		                   "(1..3600000 ms)",
		                   value);
	settings.repl_sync_timeout_ms = (int)v;
	return 0;
}

/* -o repl_ready_timeout=<seconds>. */
static int
so_repl_ready_timeout(const char *name, const char *value)
{
	long v;

	if (value == NULL)
		return usage_error("Missing numeric argument for %s", name);
	if (!parse_long(value, 0, 86400, &v))
		return usage_error("Invalid value for repl_ready_timeout: '%s' "
		                   "(0..86400 seconds)",
		                   value);
	settings.repl_ready_timeout = (int)v;
	return 0;
}

/* -o repl_secret=<file>. */
static int
so_repl_secret(const char *name, const char *value)
{
	if (value == NULL || *value == '\0')
		return usage_error("Missing file name for %s", name);
	return set_string(&settings.repl_secret_file, value);
}

/* -o tombstone_ttl=<seconds>. */
static int
so_tombstone_ttl(const char *name, const char *value)
{
	long v;

	if (value == NULL)
		return usage_error("Missing numeric argument for %s", name);
	if (!parse_long(value, 0, 86400 * 30, &v))
		return usage_error("Invalid value for tombstone_ttl: '%s'",
		                   value);
	settings.tombstone_ttl = (int)v;
	return 0;
}

/* -o no_modern: memcached 1.5's defaults (no crawler, no rebalancing). */
static int
so_no_modern(const char *name, const char *value)
{
	(void)name;
	(void)value;
	settings.slab_reassign = false;
	settings.slab_automove = 0;
	settings.lru_segmented = false;
	settings.lru_crawler = false;
	settings.lru_maintainer = false;
	return 0;
}

/* -o <flag> / no_<flag> for the boolean crawler and slab options. */
static int
so_flag(const char *name, const char *value)
{
	bool on = strncmp(name, "no_", 3) != 0;
	const char *base = on ? name : name + 3;

	(void)value;
	if (strcmp(base, "lru_crawler") == 0)
		settings.lru_crawler = on;
	else if (strcmp(base, "lru_maintainer") == 0)
		settings.lru_maintainer = on;
	else if (strcmp(base, "lru_segmented") == 0)
		settings.lru_segmented = on;
	else if (strcmp(base, "slab_reassign") == 0)
		settings.slab_reassign = on;
	return 0;
}

/* -o name=<unsigned> for the crawler and slab numbers. */
static int
so_u32(const char *name, const char *value)
{
	long v;

	if (value == NULL)
		return usage_error("Missing numeric argument for %s", name);
	if (!parse_long(value, 0, UINT32_MAX, &v))
		return usage_error("Invalid value for %s: '%s'", name, value);
	if (strcmp(name, "lru_crawler_sleep") == 0) {
		if (v > 1000000)
			return usage_error("LRU crawler sleep must be between "
			                   "0 and 1 second");
		settings.lru_crawler_sleep = (uint32_t)v;
	} else if (strcmp(name, "lru_crawler_tocrawl") == 0) {
		settings.lru_crawler_tocrawl = (uint32_t)v;
	} else if (strcmp(name, "temporary_ttl") == 0) {
		settings.temp_lru = true;
		settings.temporary_ttl = (uint32_t)v;
	} else if (strcmp(name, "slab_automove_window") == 0) {
		if (v < 1)
			return usage_error("Invalid value for %s: '%s'", name,
			                   value);
		settings.slab_automove_window = (uint32_t)v;
	}
	return 0;
}

/* -o slab_automove[=0|1|2] / no_slab_automove. */
static int
so_slab_automove(const char *name, const char *value)
{
	long v = 1;

	if (strcmp(name, "no_slab_automove") == 0) {
		settings.slab_automove = 0;
		return 0;
	}
	if (value != NULL && !parse_long(value, 0, 2, &v))
		return usage_error("slab_automove must be between 0 and 2");
	settings.slab_automove = (int)v;
	return 0;
}

/* -o log_file=<path>. */
static int
so_log_file(const char *name, const char *value)
{
	if (value == NULL || *value == '\0')
		return usage_error("Missing file name for %s", name);
	return set_string(&settings.log_file, value);
}

/* -o syslog. */
static int
so_syslog(const char *name, const char *value)
{
	if (value != NULL)
		return usage_error("%s takes no value", name);
	settings.log_syslog = true;
	return 0;
}

/* memcached's -o options that do nothing here: the value is parsed as
 * memcached does (sizes in KB or MB) and kept for "stats settings" only.
 * Returns 0 or 64. */
static int
so_reported(const char *name, const char *value)
{
	long v;

	if (value == NULL)
		return usage_error("Missing %s argument", name);
	if (strcmp(name, "slab_automove_ratio") == 0) {
		settings.slab_automove_ratio = atof(value);
	} else if (strcmp(name, "slab_automove_freeratio") == 0) {
		settings.slab_automove_freeratio = atof(value);
	} else if (strcmp(name, "tail_repair_time") == 0) {
		settings.tail_repair_time = atoi(value);
	} else if (strcmp(name, "slab_chunk_max") == 0) {
		if (!parse_long(value, 0, INT_MAX, &v))
			return usage_error("could not parse argument to %s",
			                   name);
		settings.slab_chunk_max = (int)v;
	} else if (strcmp(name, "read_buf_mem_limit") == 0) {
		if (!parse_long(value, 0, UINT32_MAX / (1024 * 1024), &v))
			return usage_error("could not parse argument to %s",
			                   name);
		settings.read_buf_mem_limit = (uint32_t)v * 1024 * 1024;
	} else {
		/* watcher_logbuf_size, worker_logbuf_size */
		if (!parse_long(value, 0, UINT32_MAX / 1024, &v))
			return usage_error("could not parse argument to %s",
			                   name);
		if (strcmp(name, "watcher_logbuf_size") == 0)
			settings.watcher_logbuf_size = (uint32_t)v * 1024;
		else
			settings.worker_logbuf_size = (uint32_t)v * 1024;
	}
	parse_warn("-o %s: not supported here, ignored", name);
	return 0;
}

/* Applies one "name" or "name=value" token of -o. Returns 0 or 64. */
static int
parse_one_subopt(char *tok)
{
	char *value = strchr(tok, '=');
	size_t i;

	if (value != NULL)
		*value++ = '\0';
	for (i = 0; i < sizeof subopts / sizeof subopts[0]; i++) {
		if (strcmp(subopts[i].name, tok) != 0)
			continue;
		if (subopts[i].apply != NULL)
			return subopts[i].apply(tok, value);
		parse_warn("-o %s: not supported here, ignored", tok);
		return 0;
	}
	if (value != NULL)
		value[-1] = '=';
	return usage_error("Illegal suboption \"%s\"", tok);
}

/* -o: a comma separated list of sub-options. Returns 0 or 64. */
static int
parse_subopts(const char *arg)
{
	char *copy = strdup(arg), *p, *comma;
	int rc = 0;

	if (copy == NULL)
		return usage_error("out of memory");
	for (p = copy; rc == 0; p = comma + 1) {
		comma = strchr(p, ',');
		if (comma != NULL)
			*comma = '\0';
		if (*p == '\0')
			rc = usage_error("Illegal suboption \"\"");
		else
			rc = parse_one_subopt(p);
		if (comma == NULL)
			break;
	}
	free(copy);
	return rc;
}

/* A flag that has no meaning here: one warning line (printed once the
 * command line parsed). Returns 0. */
static int
ignored_flag(const char *what)
{
	parse_warn("%s is not supported here, ignored", what);
	return 0;
}

/* A security flag we cannot honour: refusing beats serving without the
 * authentication or encryption the operator asked for. Returns 64. */
static int
refused_flag(const char *what)
{
	return usage_error("%s is not supported by this server", what);
}

/* Makes a relative -P path absolute, since -d changes directory to /.
 * Returns 0 or 64. */
static int
make_pidfile_absolute(void)
{
	char cwd[PATH_MAX], *abs;
	size_t n;

	if (settings.pid_file == NULL || settings.pid_file[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof cwd) == NULL)
		return 0; /* keep it relative; the write will report errors */
	n = strlen(cwd) + 1 + strlen(settings.pid_file) + 1;
	abs = malloc(n);
	if (abs == NULL)
		return usage_error("out of memory");
	snprintf(abs, n, "%s/%s", cwd, settings.pid_file);
	free(settings.pid_file);
	settings.pid_file = abs;
	return 0;
}

/* Makes *path absolute (-d changes to /), as for the pid file. */
static int
make_absolute(char **path)
{
	char cwd[PATH_MAX], *abs;
	size_t n;

	if (*path == NULL || (*path)[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof cwd) == NULL)
		return 0;
	n = strlen(cwd) + 1 + strlen(*path) + 1;
	abs = malloc(n);
	if (abs == NULL)
		return usage_error("out of memory");
	snprintf(abs, n, "%s/%s", cwd, *path);
	free(*path);
	*path = abs;
	return 0;
}

/* Prints the -i text: our licence, and where libevent's is. */
static void
print_license(FILE *out)
{
	fprintf(
	    out,
	    "memcached %s (repcached)\n"
	    "\n"
	    "BSD 3-Clause License\n"
	    "\n"
	    "Copyright (c) 2026, the repcached authors\n"
	    "All rights reserved.\n"
	    "\n"
	    "Redistribution and use in source and binary forms, with or "
	    "without\n"
	    "modification, are permitted provided that the following "
	    "conditions are met:\n"
	    "\n"
	    "1. Redistributions of source code must retain the above "
	    "copyright notice, this\n"
	    "   list of conditions and the following disclaimer.\n"
	    "\n"
	    "2. Redistributions in binary form must reproduce the above "
	    "copyright notice,\n"
	    "   this list of conditions and the following disclaimer in the "
	    "documentation\n"
	    "   and/or other materials provided with the distribution.\n"
	    "\n"
	    "3. Neither the name of the copyright holder nor the names of "
	    "its\n"
	    "   contributors may be used to endorse or promote products "
	    "derived from\n"
	    "   this software without specific prior written permission.\n"
	    "\n"
	    "THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND "
	    "CONTRIBUTORS \"AS IS\"\n"
	    "AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT "
	    "LIMITED TO, THE\n"
	    "IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A "
	    "PARTICULAR PURPOSE ARE\n"
	    "DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR "
	    "CONTRIBUTORS BE LIABLE\n"
	    "FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR "
	    "CONSEQUENTIAL\n"
	    "DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF "
	    "SUBSTITUTE GOODS OR\n"
	    "SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS "
	    "INTERRUPTION) HOWEVER\n"
	    "CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, "
	    "STRICT LIABILITY,\n"
	    "OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY "
	    "OUT OF THE USE\n"
	    "OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH "
	    "DAMAGE.\n"
	    "\n"
	    "This program links with libevent, distributed under the "
	    "3-clause BSD\n"
	    "license; see the libevent package for its text.\n",
	    MEMCACHED_VERSION);
}

/* Prints the -h text. */
void
settings_usage(FILE *out)
{
	size_t i;

	fprintf(out, "memcached %s\n", MEMCACHED_VERSION);
	for (i = 0; i < sizeof usage_lines / sizeof usage_lines[0]; i++)
		fprintf(out, "%s\n", usage_lines[i]);
}

/* Parses argv into settings; see settings.h for the return values. */
int
settings_parse(int argc, char **argv)
{
	int c, rc = 0;
	long v;
	bool tcp_set = false, udp_set = false, repl_set = false;

	optind = 0; /* glibc: full reset, so tests may parse repeatedly */
	opterr = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, short_opts, long_opts,
	                                   NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_int_opt(c, optarg, INT_MIN, INT_MAX,
			                   &settings.port))
				rc = EX_USAGE_CODE;
			tcp_set = true;
			break;
		case 'U':
			if (!parse_int_opt(c, optarg, INT_MIN, INT_MAX,
			                   &settings.udpport))
				rc = EX_USAGE_CODE;
			else if (settings.udpport != 0)
				parse_warn(
				    "-U %d: UDP is not supported, no UDP "
				    "port will be served",
				    settings.udpport);
			udp_set = true;
			break;
		case 's':
			rc = set_string(&settings.socketpath, optarg);
			break;
		case 'a':
			rc = parse_access(optarg);
			break;
		case 'A':
			settings.shutdown_command = true;
			break;
		case 'l':
			rc = add_listen(optarg);
			break;
		case 'd':
			settings.daemonize = true;
			break;
		case 'r':
			settings.coredumps = true;
			break;
		case 'u':
			rc = set_string(&settings.username, optarg);
			break;
		case 'm':
			rc = parse_memory(optarg);
			break;
		case 'M':
			settings.evict_to_free = false;
			break;
		case 'c':
			if (!parse_int_opt(c, optarg, INT_MIN, INT_MAX,
			                   &settings.maxconns))
				rc = EX_USAGE_CODE;
			break;
		case 'k':
			settings.lock_memory = true;
			rc = ignored_flag("-k (--lock-memory)");
			break;
		case 'v':
			settings.verbose++;
			break;
		case 'h':
			flush_warnings(false);
			settings_usage(stdout);
			return 1;
		case 'i':
			flush_warnings(false);
			print_license(stdout);
			return 1;
		case 'V':
			flush_warnings(false);
			printf("memcached %s\n", MEMCACHED_VERSION);
			return 1;
		case 'P':
			rc = set_string(&settings.pid_file, optarg);
			break;
		case 'f':
			if (!parse_double(optarg, &settings.factor))
				rc = usage_error("Invalid value for -f: '%s'",
				                 optarg);
			break;
		case 'n':
			if (!parse_int_opt(c, optarg, INT_MIN, INT_MAX,
			                   &settings.chunk_size))
				rc = EX_USAGE_CODE;
			break;
		case 'L':
			settings.large_pages = true;
			break;
		case 'D':
			if (optarg[0] == '\0') {
				rc = usage_error("No delimiter specified");
			} else {
				settings.prefix_delimiter = optarg[0];
				settings.detail_enabled = true;
			}
			break;
		case 't':
			if (!parse_int_opt(c, optarg, INT_MIN, INT_MAX,
			                   &settings.num_threads))
				rc = EX_USAGE_CODE;
			break;
		case 'R':
			if (!parse_int_opt(c, optarg, INT_MIN, INT_MAX,
			                   &settings.reqs_per_event))
				rc = EX_USAGE_CODE;
			break;
		case 'C':
			settings.use_cas = false;
			break;
		case 'b':
			if (!parse_int_opt(c, optarg, INT_MIN, INT_MAX,
			                   &settings.backlog))
				rc = EX_USAGE_CODE;
			break;
		case 'B':
			rc = parse_protocol(optarg);
			break;
		case 'I':
			rc = parse_item_size(optarg);
			break;
		case 'S':
			rc = refused_flag("-S (SASL authentication)");
			break;
		case 'F':
			settings.flush_enabled = false;
			break;
		case OPT_DISABLE_DUMPING:
		case 'W':
			/* they disable features this server does not have */
			break;
		case 'Y':
			rc = refused_flag("-Y (ASCII authentication)");
			break;
		case 'e':
			rc = set_string(&settings.memory_file, optarg);
			if (rc == 0)
				rc = ignored_flag("-e (--memory-file)");
			break;
		case 'Z':
			rc = refused_flag("-Z (TLS/SSL)");
			break;
		case 'N':
			settings.num_napi_ids = atoi(optarg);
			if (settings.num_napi_ids <= 0)
				rc = usage_error(
				    "Maximum number of NAPI IDs must "
				    "be greater than 0");
			else
				rc = ignored_flag("-N (--napi_ids)");
			break;
		case 'o':
			rc = parse_subopts(optarg);
			break;
		case 'x':
			if (*optarg == '\0')
				rc = usage_error("Invalid value for -x: ''");
			else
				rc = set_string(&settings.repl_peer, optarg);
			break;
		case 'X':
			if (!parse_int_opt(c, optarg, INT_MIN, INT_MAX,
			                   &settings.repl_port))
				rc = EX_USAGE_CODE;
			repl_set = true;
			break;
		case 'q':
			if (!parse_long(optarg, 1, REPL_QSIZE_LIMIT, &v))
				rc = usage_error("Invalid value for -q: '%s' "
				                 "(1..%d records)",
				                 optarg, REPL_QSIZE_LIMIT);
			else
				settings.repl_qsize = (size_t)v;
			break;
		case ':':
			/* the option lacking its argument ends argv[optind-1]
			 */
			if (strncmp(argv[optind - 1], "--", 2) == 0)
				rc = usage_error("%s: option '%s' requires an "
				                 "argument",
				                 argv[0], argv[optind - 1]);
			else
				rc = usage_error("%s: option requires an "
				                 "argument -- '%c'",
				                 argv[0], optopt);
			break;
		default:
			if (optopt != 0)
				rc = usage_error("%s: invalid option -- '%c'",
				                 argv[0], optopt);
			else
				rc = usage_error("%s: unrecognized option "
				                 "'%s'",
				                 argv[0], argv[optind - 1]);
			break;
		}
	}
	if (rc == 0 && optind < argc)
		rc = usage_error("%s: unexpected argument '%s'", argv[0],
		                 argv[optind]);
	if (rc == 0)
		rc = make_pidfile_absolute();
	/* As memcached: -U without -p serves TCP on the UDP port number. */
	if (udp_set && settings.udpport != 0 && !tcp_set)
		settings.port = settings.udpport;
	/* -p on the default replication port, with no -X and no peer: the
	 * operator asked for that client port, so replication stays off. */
	if (rc == 0 && !repl_set && settings.repl_peer == NULL &&
	    settings.socketpath == NULL &&
	    settings.port == settings.repl_port) {
		parse_warn("-p %d is the default replication port: replication "
		           "is off (give -X to turn it on)",
		           settings.port);
		settings.repl_port = 0;
	}
	if (rc == 0)
		rc = make_absolute(&settings.log_file);
	flush_warnings(rc == 0);
	settings.slab_page_size =
	    settings.item_size_max > MB ? settings.item_size_max : MB;
	return rc;
}

/* Checks cross-field constraints; see settings.h. */
int
settings_validate(void)
{
	if (settings.port < -1 || settings.port > 65535)
		return usage_error("ERROR: Invalid port number %d.",
		                   settings.port);
	if (settings.udpport < -1 || settings.udpport > 65535)
		return usage_error("ERROR: Invalid UDP port number %d.",
		                   settings.udpport);
	if (settings.repl_port < 0 || settings.repl_port > 65535)
		return usage_error("ERROR: Invalid replication port number %d.",
		                   settings.repl_port);
	if (settings.maxconns <= 0)
		return usage_error("Maximum connections must be greater than "
		                   "0");
	if (!(settings.factor > 1.0))
		return usage_error("Factor must be greater than 1");
	if (settings.chunk_size <= 0)
		return usage_error("Chunk size must be greater than 0");
	if (settings.reqs_per_event <= 0)
		return usage_error("Number of requests per event must be "
		                   "greater than 0");
	if (settings.backlog <= 0)
		return usage_error("Listen backlog must be greater than 0");
	if (settings.num_threads <= 0)
		return usage_error("Number of threads must be greater than 0");
	if (settings.item_size_max < ITEM_SIZE_MIN)
		return usage_error(
		    "Item max size cannot be less than %d bytes.",
		    ITEM_SIZE_MIN);
	if (settings.item_size_max > ITEM_SIZE_LIMIT)
		return usage_error(
		    "Cannot set item size limit higher than a gigabyte.");
	if (settings.item_size_max > settings.maxbytes / 2)
		return usage_error("Cannot set item size limit higher than 1/2 "
		                   "of memory max.");
	if ((size_t)settings.chunk_size >= settings.item_size_max)
		return usage_error(
		    "Chunk size (-n %d) must be smaller than the "
		    "max item size (-I %zu)",
		    settings.chunk_size, settings.item_size_max);
	if (settings.protocol != PROTO_AUTO &&
	    settings.protocol != PROTO_ASCII &&
	    settings.protocol != PROTO_BINARY)
		return usage_error("Invalid value for binding protocol");
	if (settings.repl_peer != NULL && settings.repl_port == 0)
		return usage_error(
		    "-x %s needs a replication port: -X must not "
		    "be 0",
		    settings.repl_peer);
	if (settings.repl_port != 0 && settings.socketpath == NULL &&
	    settings.repl_port == settings.port)
		return usage_error("The replication port (-X %d) must differ "
		                   "from the TCP port (-p)",
		                   settings.repl_port);
	if (settings.repl_qsize == 0)
		return usage_error("Replication queue (-q) must be greater "
		                   "than 0");
	if (settings.repl_timeout <= 0)
		return usage_error("repl_timeout must be greater than 0");
	if (settings.repl_sync_timeout_ms <= 0)
		return usage_error("repl_sync_timeout must be greater than 0");
	if (settings.tombstone_ttl < 0)
		return usage_error("tombstone_ttl cannot be negative");
	if (settings.idle_timeout < 0)
		return usage_error("idle_timeout cannot be negative");
	settings.slab_page_size =
	    settings.item_size_max > MB ? settings.item_size_max : MB;
	return 0;
}
