/* stats.c: server-wide counters and the stats groups, in memcached's names
 * and order, shared by the text and binary front ends. */
#include "config.h"

#include <dirent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conn.h"
#include "crawler.h"
#include "hash.h"
#include "items.h"
#include "repl.h"
#include "settings.h"
#include "slabs.h"
#include "stats.h"
#include "store.h"
#include "util.h"

struct server_stats server_stats;

/* Zeroes counters and records the start time. */
void
stats_init(void)
{
	memset(&server_stats, 0, sizeof server_stats);
	util_clock_update();
	server_stats.started = current_time;
}

/* Zeroes the counters "stats reset" resets (not gauges). */
void
stats_reset(void)
{
	server_stats.total_conns = 0;
	server_stats.rejected_conns = 0;
	server_stats.listen_disabled_num = 0;
	server_stats.cmd_get = server_stats.cmd_set = 0;
	server_stats.cmd_meta = 0;
	server_stats.bytes_read = server_stats.bytes_written = 0;
	server_stats.conn_yields = 0;
	server_stats.auth_cmds = server_stats.auth_errors = 0;
	server_stats.idle_kicks = 0;
	server_stats.response_obj_oom = server_stats.read_buf_oom = 0;
	server_stats.time_in_listen_disabled_us = 0;
	server_stats.malloc_fails = 0;
	store_stats.store_too_large = store_stats.store_no_memory = 0;
	store_stats.get_hits = store_stats.get_misses = 0;
	store_stats.get_expired = store_stats.get_flushed = 0;
	store_stats.cmd_touch = store_stats.touch_hits = 0;
	store_stats.touch_misses = 0;
	store_stats.delete_hits = store_stats.delete_misses = 0;
	store_stats.incr_hits = store_stats.incr_misses = 0;
	store_stats.decr_hits = store_stats.decr_misses = 0;
	store_stats.cas_hits = store_stats.cas_misses = 0;
	store_stats.cas_badval = 0;
	store_stats.cmd_flush = 0;
	store_stats.evictions = store_stats.reclaimed = 0;
	store_stats.total_items = 0;
	store_stats.expired_unfetched = store_stats.evicted_unfetched = 0;
	items_stats_reset();
	crawler_stats_reset();
	stats_prefix_clear();
}

/* Emits name with an unsigned value. */
static void
emit_u64(stat_emit_fn emit, void *ctx, const char *name, uint64_t v)
{
	char buf[24];

	util_u64toa(v, buf);
	emit(ctx, name, buf);
}

/* Emits name with a formatted value. */
static void emit_fmt(stat_emit_fn emit, void *ctx, const char *name,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
emit_fmt(stat_emit_fn emit, void *ctx, const char *name, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	emit(ctx, name, buf);
}

/* Descriptors the server holds other than its clients' (standard
 * streams, listeners, the event loop, replication sockets): the open
 * ones in /proc/self/fd less the clients, 0 if it cannot be read. */
static uint64_t
reserved_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	n = n > 0 ? n - 1 : 0; /* the directory's own descriptor */
	return n > server_stats.curr_conns ? n - server_stats.curr_conns : 0;
}

/* True when replication is configured. */
bool
stats_repl_shown(void)
{
	return settings.repl_port != 0 || settings.repl_peer != NULL;
}

/* Sums a per-class item counter over every class. */
static uint64_t
sum_classes(size_t offset)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 1; i <= SLAB_CLASS_MAX; i++)
		sum +=
		    *(const uint64_t *)((const char *)&item_stats[i] + offset);
	return sum;
}

#define SUM_CLASSES(field) sum_classes(offsetof(struct item_class_stats, field))

/* Emits the general stats: memcached 1.6.18's names, order and conditions
 * (lines of features we do not have are left out, as memcached leaves out
 * those of features turned off), then, with replication on, ours. */
void
stats_general(stat_emit_fn emit, void *ctx)
{
	struct rusage ru;
	const struct store_stats *s = &store_stats;

	getrusage(RUSAGE_SELF, &ru);
	emit_u64(emit, ctx, "pid", (uint64_t)getpid());
	emit_u64(emit, ctx, "uptime", current_time - server_stats.started);
	emit_u64(emit, ctx, "time", current_time);
	emit(ctx, "version", MEMCACHED_VERSION);
	emit(ctx, "libevent", event_get_version());
	emit_u64(emit, ctx, "pointer_size", 8 * sizeof(void *));
	emit_fmt(emit, ctx, "rusage_user", "%ld.%06ld",
	         (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
	emit_fmt(emit, ctx, "rusage_system", "%ld.%06ld",
	         (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
	emit_u64(emit, ctx, "max_connections", (uint64_t)settings.maxconns);
	emit_u64(emit, ctx, "curr_connections", server_stats.curr_conns);
	emit_u64(emit, ctx, "total_connections", server_stats.total_conns);
	if (settings.maxconns_fast)
		emit_u64(emit, ctx, "rejected_connections",
		         server_stats.rejected_conns);
	emit_u64(emit, ctx, "connection_structures", server_stats.conn_structs);
	emit_u64(emit, ctx, "response_obj_oom", server_stats.response_obj_oom);
	emit_u64(emit, ctx, "response_obj_count",
	         server_stats.response_obj_count);
	emit_u64(emit, ctx, "response_obj_bytes",
	         server_stats.response_obj_bytes);
	emit_u64(emit, ctx, "read_buf_count", server_stats.read_buf_count);
	emit_u64(emit, ctx, "read_buf_bytes", server_stats.read_buf_bytes);
	emit_u64(emit, ctx, "read_buf_bytes_free",
	         server_stats.read_buf_bytes_free);
	emit_u64(emit, ctx, "read_buf_oom", server_stats.read_buf_oom);
	emit_u64(emit, ctx, "reserved_fds", reserved_fds());
	emit_u64(emit, ctx, "cmd_get", server_stats.cmd_get);
	emit_u64(emit, ctx, "cmd_set", server_stats.cmd_set);
	emit_u64(emit, ctx, "cmd_flush", s->cmd_flush);
	emit_u64(emit, ctx, "cmd_touch", s->cmd_touch);
	emit_u64(emit, ctx, "cmd_meta", server_stats.cmd_meta);
	emit_u64(emit, ctx, "get_hits", s->get_hits);
	emit_u64(emit, ctx, "get_misses", s->get_misses);
	emit_u64(emit, ctx, "get_expired", s->get_expired);
	emit_u64(emit, ctx, "get_flushed", s->get_flushed);
	emit_u64(emit, ctx, "delete_misses", s->delete_misses);
	emit_u64(emit, ctx, "delete_hits", s->delete_hits);
	emit_u64(emit, ctx, "incr_misses", s->incr_misses);
	emit_u64(emit, ctx, "incr_hits", s->incr_hits);
	emit_u64(emit, ctx, "decr_misses", s->decr_misses);
	emit_u64(emit, ctx, "decr_hits", s->decr_hits);
	emit_u64(emit, ctx, "cas_misses", s->cas_misses);
	emit_u64(emit, ctx, "cas_hits", s->cas_hits);
	emit_u64(emit, ctx, "cas_badval", s->cas_badval);
	emit_u64(emit, ctx, "touch_hits", s->touch_hits);
	emit_u64(emit, ctx, "touch_misses", s->touch_misses);
	emit_u64(emit, ctx, "store_too_large", s->store_too_large);
	emit_u64(emit, ctx, "store_no_memory", s->store_no_memory);
	emit_u64(emit, ctx, "auth_cmds", server_stats.auth_cmds);
	emit_u64(emit, ctx, "auth_errors", server_stats.auth_errors);
	if (settings.idle_timeout > 0)
		emit_u64(emit, ctx, "idle_kicks", server_stats.idle_kicks);
	emit_u64(emit, ctx, "bytes_read", server_stats.bytes_read);
	emit_u64(emit, ctx, "bytes_written", server_stats.bytes_written);
	emit_u64(emit, ctx, "limit_maxbytes", (uint64_t)settings.maxbytes);
	emit_u64(emit, ctx, "accepting_conns", conn_accepting() ? 1 : 0);
	emit_u64(emit, ctx, "listen_disabled_num",
	         server_stats.listen_disabled_num);
	emit_u64(emit, ctx, "time_in_listen_disabled_us",
	         server_stats.time_in_listen_disabled_us +
	             conn_listen_disabled_us());
	emit_u64(emit, ctx, "threads", 1);
	emit_u64(emit, ctx, "conn_yields", server_stats.conn_yields);
	emit_u64(emit, ctx, "hash_power_level", s->hash_power_level);
	emit_u64(emit, ctx, "hash_bytes", s->hash_bytes);
	emit_u64(emit, ctx, "hash_is_expanding", s->hash_is_expanding);
	crawler_stats(emit, ctx);
	emit_u64(emit, ctx, "malloc_fails", server_stats.malloc_fails);
	/* No log watchers ("watch" is not built in), one thread, no NAPI
	 * ids: these count events that cannot happen here. */
	emit_u64(emit, ctx, "log_worker_dropped", 0);
	emit_u64(emit, ctx, "log_worker_written", 0);
	emit_u64(emit, ctx, "log_watcher_skipped", 0);
	emit_u64(emit, ctx, "log_watcher_sent", 0);
	emit_u64(emit, ctx, "log_watchers", 0);
	emit_u64(emit, ctx, "unexpected_napi_ids", 0);
	emit_u64(emit, ctx, "round_robin_fallback", 0);
	emit_u64(emit, ctx, "bytes", s->bytes);
	emit_u64(emit, ctx, "curr_items", s->curr_items);
	emit_u64(emit, ctx, "total_items", s->total_items);
	emit_u64(emit, ctx, "slab_global_page_pool", slabs_global_pages());
	emit_u64(emit, ctx, "expired_unfetched", s->expired_unfetched);
	emit_u64(emit, ctx, "evicted_unfetched", s->evicted_unfetched);
	emit_u64(emit, ctx, "evictions", s->evictions);
	emit_u64(emit, ctx, "reclaimed", s->reclaimed);
	emit_u64(emit, ctx, "crawler_reclaimed",
	         SUM_CLASSES(crawler_reclaimed));
	emit_u64(emit, ctx, "crawler_items_checked",
	         SUM_CLASSES(crawler_items_checked));
	emit_u64(emit, ctx, "lrutail_reflocked",
	         SUM_CLASSES(lrutail_reflocked));
	items_stats_totals(emit, ctx);
	if (!stats_repl_shown())
		return;
	emit_u64(emit, ctx, "curr_tombstones", s->curr_tombstones);
	repl_stats(emit, ctx, false);
}

/* memcached's "oldest": its flush marker on its relative clock, whose
 * zero is 62 s (ITEM_UPDATE_INTERVAL + 2) before the process started, one
 * second earlier with cas on (it then also compares cas). 0: no flush. */
static uint64_t
oldest_rel(void)
{
	uint64_t rel;

	if (store_stats.oldest_live == 0)
		return 0;
	rel = (uint64_t)store_stats.oldest_live + 62;
	if (rel < (uint64_t)server_stats.started + (settings.use_cas ? 1 : 0))
		return 0;
	return rel - server_stats.started - (settings.use_cas ? 1 : 0);
}

/* Emits "stats settings". */
void
stats_settings(stat_emit_fn emit, void *ctx)
{
	static const char *protos[] = {"auto-negotiate", "ascii", "binary"};

	emit_u64(emit, ctx, "maxbytes", (uint64_t)settings.maxbytes);
	emit_u64(emit, ctx, "maxconns", (uint64_t)settings.maxconns);
	emit_u64(emit, ctx, "tcpport", (uint64_t)settings.port);
	emit_u64(emit, ctx, "udpport", 0);
	emit(ctx, "inter", settings.inter ? settings.inter : "NULL");
	emit_u64(emit, ctx, "verbosity", (uint64_t)settings.verbose);
	emit_u64(emit, ctx, "oldest", oldest_rel());
	emit(ctx, "evictions", settings.evict_to_free ? "on" : "off");
	emit(ctx, "domain_socket",
	     settings.socketpath ? settings.socketpath : "NULL");
	emit_fmt(emit, ctx, "umask", "%o", settings.access);
	emit(ctx, "shutdown_command", settings.shutdown_command ? "yes" : "no");
	emit_fmt(emit, ctx, "growth_factor", "%.2f", settings.factor);
	emit_u64(emit, ctx, "chunk_size", (uint64_t)settings.chunk_size);
	emit_u64(emit, ctx, "num_threads", 1);
	emit_u64(emit, ctx, "num_threads_per_udp", 1);
	emit_fmt(emit, ctx, "stat_key_prefix", "%c", settings.prefix_delimiter);
	emit(ctx, "detail_enabled", settings.detail_enabled ? "yes" : "no");
	emit_u64(emit, ctx, "reqs_per_event",
	         (uint64_t)settings.reqs_per_event);
	emit(ctx, "cas_enabled", settings.use_cas ? "yes" : "no");
	emit_u64(emit, ctx, "tcp_backlog", (uint64_t)settings.backlog);
	emit(ctx, "binding_protocol", protos[settings.protocol]);
	emit(ctx, "auth_enabled_sasl", "no");
	emit(ctx, "auth_enabled_ascii", "no");
	emit_u64(emit, ctx, "item_size_max", (uint64_t)settings.item_size_max);
	emit(ctx, "maxconns_fast", settings.maxconns_fast ? "yes" : "no");
	emit_u64(emit, ctx, "hashpower_init",
	         (uint64_t)settings.hashpower_init);
	emit(ctx, "flush_enabled", settings.flush_enabled ? "yes" : "no");
	emit(ctx, "hash_algorithm", "murmur3");
	emit_u64(emit, ctx, "idle_timeout", (uint64_t)settings.idle_timeout);
	emit(ctx, "track_sizes", "no");
	emit(ctx, "inline_ascii_response", "no");
	/* memcached's options that change nothing here, as given */
	emit_fmt(emit, ctx, "slab_automove_ratio", "%.2f",
	         settings.slab_automove_ratio);
	emit_fmt(emit, ctx, "slab_chunk_max", "%d", settings.slab_chunk_max);
	emit_fmt(emit, ctx, "tail_repair_time", "%d",
	         settings.tail_repair_time);
	emit_u64(emit, ctx, "watcher_logbuf_size",
	         (uint64_t)settings.watcher_logbuf_size);
	emit_u64(emit, ctx, "worker_logbuf_size",
	         (uint64_t)settings.worker_logbuf_size);
	emit_u64(emit, ctx, "read_buf_mem_limit",
	         (uint64_t)settings.read_buf_mem_limit);
	emit_fmt(emit, ctx, "slab_automove_freeratio", "%.3f",
	         settings.slab_automove_freeratio);
	/* memcached prints "(null)" for both when not given */
	if (settings.num_napi_ids > 0)
		emit_fmt(emit, ctx, "num_napi_ids", "%d",
		         settings.num_napi_ids);
	else
		emit(ctx, "num_napi_ids", "(null)");
	emit(ctx, "memory_file",
	     settings.memory_file ? settings.memory_file : "(null)");
	emit(ctx, "repl_peer",
	     settings.repl_peer ? settings.repl_peer : "NULL");
	emit_u64(emit, ctx, "repl_port", (uint64_t)settings.repl_port);
	emit_u64(emit, ctx, "repl_qsize", (uint64_t)settings.repl_qsize);
	emit_u64(emit, ctx, "repl_timeout", (uint64_t)settings.repl_timeout);
	emit_u64(emit, ctx, "repl_backlog", (uint64_t)settings.repl_backlog);
	emit(ctx, "repl_sync", settings.repl_sync ? "yes" : "no");
	emit_u64(emit, ctx, "repl_sync_timeout_ms",
	         (uint64_t)settings.repl_sync_timeout_ms);
	emit(ctx, "repl_secret", settings.repl_secret_file ? "yes" : "no");
	emit_u64(emit, ctx, "tombstone_ttl", (uint64_t)settings.tombstone_ttl);
	crawler_stats_settings(emit, ctx);
}

/* Emits one named group; false for an unknown one. */
bool
stats_group(const char *name, stat_emit_fn emit, void *ctx)
{
	if (strcmp(name, "settings") == 0)
		stats_settings(emit, ctx);
	else if (strcmp(name, "items") == 0)
		store_stats_items(emit, ctx);
	else if (strcmp(name, "slabs") == 0)
		store_stats_slabs(emit, ctx);
	else if (strcmp(name, "sizes") == 0)
		store_stats_sizes(emit, ctx);
	else if (strcmp(name, "conns") == 0)
		conn_stats(emit, ctx);
	else if (strcmp(name, "replication") == 0)
		repl_stats(emit, ctx, true);
	else
		return false;
	return true;
}

/* ---- per-prefix stats ("stats detail") ---- */

#define PREFIX_BUCKETS 256
#define PREFIX_MAX 65536 /* prefixes tracked; more are not counted */

struct prefix_stats {
	struct prefix_stats *next;
	uint64_t gets, hits, sets, deletes;
	size_t len;
	char prefix[];
};

static struct prefix_stats *prefixes[PREFIX_BUCKETS];
static size_t nprefixes;

/* Finds or creates the record of key's prefix; NULL if the key has no
 * delimiter (or memory is short). */
static struct prefix_stats *
prefix_find(const char *key, size_t nkey)
{
	const char *d = memchr(key, settings.prefix_delimiter, nkey);
	struct prefix_stats *ps;
	size_t len, b;

	if (d == NULL)
		return NULL;
	len = (size_t)(d - key);
	b = hash_key(key, len) % PREFIX_BUCKETS;
	for (ps = prefixes[b]; ps != NULL; ps = ps->next)
		if (ps->len == len && memcmp(ps->prefix, key, len) == 0)
			return ps;
	if (nprefixes >= PREFIX_MAX)
		return NULL;
	ps = calloc(1, sizeof(*ps) + len + 1);
	if (ps == NULL) {
		server_stats.malloc_fails++;
		return NULL;
	}
	memcpy(ps->prefix, key, len);
	ps->len = len;
	ps->next = prefixes[b];
	prefixes[b] = ps;
	nprefixes++;
	return ps;
}

/* Counts a get of key (a hit or a miss). */
void
stats_prefix_get(const char *key, size_t nkey, bool hit)
{
	struct prefix_stats *ps;

	if (settings.detail_enabled && (ps = prefix_find(key, nkey)) != NULL) {
		ps->gets++;
		ps->hits += hit;
	}
}

/* Counts a store command on key. */
void
stats_prefix_set(const char *key, size_t nkey)
{
	struct prefix_stats *ps;

	if (settings.detail_enabled && (ps = prefix_find(key, nkey)) != NULL)
		ps->sets++;
}

/* Counts a delete of key. */
void
stats_prefix_delete(const char *key, size_t nkey)
{
	struct prefix_stats *ps;

	if (settings.detail_enabled && (ps = prefix_find(key, nkey)) != NULL)
		ps->deletes++;
}

/* Forgets every prefix ("stats reset"). */
void
stats_prefix_clear(void)
{
	struct prefix_stats *ps, *next;
	size_t b;

	for (b = 0; b < PREFIX_BUCKETS; b++) {
		for (ps = prefixes[b]; ps != NULL; ps = next) {
			next = ps->next;
			free(ps);
		}
		prefixes[b] = NULL;
	}
	nprefixes = 0;
}

/* "stats detail on|off". */
void
stats_detail_enable(bool on)
{
	settings.detail_enabled = on;
}

/* "stats detail dump": PREFIX lines then END, in one malloc'ed string. */
char *
stats_detail_dump(size_t *len)
{
	struct prefix_stats *ps;
	size_t size = 6, used = 0, b;
	char *out;

	for (b = 0; b < PREFIX_BUCKETS; b++)
		for (ps = prefixes[b]; ps != NULL; ps = ps->next)
			size += ps->len + 112;
	out = malloc(size);
	if (out == NULL) {
		server_stats.malloc_fails++;
		return NULL;
	}
	for (b = 0; b < PREFIX_BUCKETS; b++)
		for (ps = prefixes[b]; ps != NULL; ps = ps->next)
			used +=
			    (size_t)snprintf(out + used, size - used,
			                     "PREFIX %.*s get %llu hit %llu "
			                     "set %llu del %llu\r\n",
			                     (int)ps->len, ps->prefix,
			                     (unsigned long long)ps->gets,
			                     (unsigned long long)ps->hits,
			                     (unsigned long long)ps->sets,
			                     (unsigned long long)ps->deletes);
	memcpy(out + used, "END\r\n", 5);
	*len = used + 5;
	return out;
}
