/* settings.h: every tunable in one struct, with defaults in one function. */
#ifndef SETTINGS_H
#define SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EX_USAGE_CODE 64

enum protocol { PROTO_AUTO = 0, PROTO_ASCII, PROTO_BINARY };

struct settings {
	/* listeners */
	int port;               /* -p, default 11211 */
	int udpport;            /* -U, accepted, never served */
	char *inter;            /* -l, comma list, may repeat (joined by ',') */
	char *socketpath;       /* -s */
	int access;             /* -a, octal mask, default 0700 */
	int backlog;            /* -b, default 1024 */
	enum protocol protocol; /* -B */
	/* process */
	bool daemonize;   /* -d */
	char *pid_file;   /* -P */
	char *username;   /* -u */
	bool coredumps;   /* -r */
	bool lock_memory; /* -k, accepted with a warning */
	bool large_pages; /* -L: slab memory in transparent huge pages */
	int verbose;      /* -v count */
	char *log_file;   /* -o log_file */
	bool log_syslog;  /* -o syslog */
	int num_threads;  /* -t, accepted, one loop */
	/* memory and items */
	size_t maxbytes;       /* -m, bytes, default 64 MB */
	bool evict_to_free;    /* true unless -M */
	double factor;         /* -f, default 1.25 */
	int chunk_size;        /* -n, default 48 */
	size_t item_size_max;  /* -I, default 1 MB */
	size_t slab_page_size; /* derived: max(1 MB, item_size_max) */
	bool use_cas;          /* false with -C */
	int hashpower_init;    /* -o hashpower */
	/* connections */
	int maxconns;           /* -c, default 1024 */
	int reqs_per_event;     /* -R, default 20 */
	size_t max_conn_output; /* bytes queued for one client before we stop
	                           reading it */
	int idle_timeout;       /* -o idle_timeout, seconds, 0 = off */
	bool maxconns_fast;     /* -o maxconns_fast (default on) */
	/* commands */
	bool shutdown_command; /* -A */
	bool flush_enabled;    /* false with -F */
	/* stats */
	char prefix_delimiter; /* -D, default ':' (per-prefix stats) */
	bool detail_enabled;   /* "stats detail on" */
	/* replication */
	char *repl_peer;          /* -x */
	int repl_port;            /* -X, default 11212, 0 = off */
	size_t repl_qsize;        /* -q, records queued to the peer */
	int repl_timeout;         /* -o repl_timeout, seconds, default 3 */
	size_t repl_backlog;      /* -o repl_backlog, bytes */
	bool repl_sync;           /* -o repl_sync */
	int repl_sync_timeout_ms; /* -o repl_sync_timeout, ms */
	int repl_ready_timeout;   /* -o repl_ready_timeout, s, 0 = no hold */
	char *repl_secret_file;   /* -o repl_secret */
	int tombstone_ttl;        /* -o tombstone_ttl, seconds */
	/* LRU crawler and slab rebalancing (memcached's -o names) */
	bool lru_crawler;              /* -o lru_crawler (default on) */
	uint32_t lru_crawler_sleep;    /* -o lru_crawler_sleep, us */
	uint32_t lru_crawler_tocrawl;  /* -o lru_crawler_tocrawl, 0 = all */
	bool lru_maintainer;           /* -o lru_maintainer (default on) */
	bool lru_segmented;            /* -o lru_segmented (default on) */
	uint32_t hot_lru_pct;          /* HOT's share of a class (lru tune) */
	uint32_t warm_lru_pct;         /* WARM's share of a class */
	double hot_max_factor;         /* HOT tail age limit / COLD's */
	double warm_max_factor;        /* WARM tail age limit / COLD's */
	bool temp_lru;                 /* set by -o temporary_ttl */
	uint32_t temporary_ttl;        /* -o temporary_ttl, seconds */
	bool slab_reassign;            /* -o slab_reassign (default on) */
	int slab_automove;             /* -o slab_automove[=0|1|2], default 1 */
	uint32_t slab_automove_window; /* -o slab_automove_window */
	/* memcached's options that have no effect here, kept only so that
	 * "stats settings" reports what was given (memcached's defaults) */
	int tail_repair_time;           /* -o tail_repair_time, s */
	double slab_automove_ratio;     /* -o slab_automove_ratio */
	double slab_automove_freeratio; /* -o slab_automove_freeratio */
	int slab_chunk_max;             /* -o slab_chunk_max, bytes */
	uint32_t watcher_logbuf_size;   /* -o watcher_logbuf_size, bytes */
	uint32_t worker_logbuf_size;    /* -o worker_logbuf_size, bytes */
	uint32_t read_buf_mem_limit;    /* -o read_buf_mem_limit, bytes */
	char *memory_file;              /* -e, NULL if not given */
	int num_napi_ids;               /* -N, 0 if not given */
};

extern struct settings settings;

/* settings.c */
/* Fills settings with memcached's defaults. */
void settings_init(void);
/* Parses argv into settings. Returns 0 to run, 1 when the process should
 * exit 0 (after -h or -V), or EX_USAGE_CODE after printing a one-line
 * error to stderr. */
int settings_parse(int argc, char **argv);
/* Checks cross-field constraints; prints a one-line error and returns
 * EX_USAGE_CODE on failure, 0 otherwise. */
int settings_validate(void);
/* Prints the -h text in memcached's layout. */
void settings_usage(FILE *out);
/* Splits one -l entry (host, host:port, [v6] or [v6]:port) into host and
 * port (-1 when the entry has none). Returns 0, or -1 if malformed. */
int settings_split_listen(const char *entry, char *host, size_t hostsz,
                          int *port);

#endif
