/* crawler.c: the LRU crawler ("lru_crawler crawl" and "lru_crawler
 * metadump").
 *
 * memcached runs its crawler in a thread that walks each class's LRU. Here
 * everything is one event loop, so both walks go over the hash table's
 * buckets in slices: CRAWL_SLICE_BUCKETS buckets per loop turn for a
 * crawl (from a timer, lru_crawler_sleep microseconds apart), and for a
 * metadump a slice of lines per turn written to the asking connection
 * through conn_job_start(), which sends them as they are produced. The
 * hash table's growth is paused (assoc_pause) while a walk is open, so
 * bucket numbers stay valid between slices. One walk runs at a time, as in
 * memcached ("BUSY currently processing crawler request"). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "assoc.h"
#include "crawler.h"
#include "items.h"
#include "settings.h"
#include "slabs.h"
#include "util.h"

#define CRAWL_SLICE_BUCKETS 1024 /* buckets a crawl checks per turn */
#define DUMP_SLICE_ITEMS 2048    /* lines a metadump writes per turn */
#define DUMP_SCAN_MAX 16384      /* buckets a metadump slice may scan */
#define DUMP_LINE_MAX (KEY_MAX_LENGTH * 3 + 160)

enum crawler_kind { CRAWL_NONE = 0, CRAWL_EXPIRED, CRAWL_METADUMP };

static struct {
	struct event *ev;
	enum crawler_kind kind;
	bool classes[SLAB_CLASS_MAX + 1];     /* classes walked */
	uint64_t checked[SLAB_CLASS_MAX + 1]; /* items checked (tocrawl) */
	uint64_t bucket;                      /* next bucket */
	bool paused;                          /* holds assoc_pause */
	uint64_t starts;                      /* lru_crawler_starts */
} crawler;

static void crawler_crawl_cb(evutil_socket_t fd, short what, void *arg);

/* Creates the crawler's timer. */
void
crawler_init(struct event_base *base)
{
	memset(&crawler, 0, sizeof crawler);
	crawler.ev = evtimer_new(base, crawler_crawl_cb, NULL);
}

/* Ends the current walk (resuming the table's growth). */
static void
crawler_finish(void)
{
	if (crawler.paused) {
		assoc_resume();
		crawler.paused = false;
	}
	crawler.kind = CRAWL_NONE;
}

/* Stops a running crawl and frees the timer. */
void
crawler_destroy(void)
{
	if (crawler.kind == CRAWL_EXPIRED)
		crawler_finish();
	if (crawler.ev != NULL) {
		event_free(crawler.ev);
		crawler.ev = NULL;
	}
}

/* True while a walk runs. */
bool
crawler_running(void)
{
	return crawler.kind != CRAWL_NONE;
}

/* Parses "all" (every class) or a comma list of class ids into mask.
 * "hash" is accepted when allow_hash is true (every class). Returns false
 * for a bad class id. */
static bool
crawler_parse_classes(const char *s, size_t len, bool allow_hash,
                      bool mask[SLAB_CLASS_MAX + 1])
{
	size_t i = 0;

	memset(mask, 0, sizeof(bool) * (SLAB_CLASS_MAX + 1));
	if ((len == 3 && memcmp(s, "all", 3) == 0) ||
	    (allow_hash && len == 4 && memcmp(s, "hash", 4) == 0)) {
		for (i = 1; i <= SLAB_CLASS_MAX; i++)
			mask[i] = true;
		return true;
	}
	while (i < len) {
		size_t j = i;
		uint32_t id;

		while (j < len && s[j] != ',')
			j++;
		if (!util_strtoul(s + i, j - i, &id) || id < 1 ||
		    id > SLAB_CLASS_MAX)
			return false;
		mask[id] = true;
		i = j + 1;
	}
	return true;
}

/* Opens a walk of the hash table for kind. */
static void
crawler_begin(enum crawler_kind kind)
{
	crawler.kind = kind;
	crawler.bucket = 0;
	memset(crawler.checked, 0, sizeof crawler.checked);
	assoc_pause();
	crawler.paused = true;
	crawler.starts++;
}

/* ---- lru_crawler crawl ---- */

/* Schedules the next crawl slice, lru_crawler_sleep microseconds away. */
static void
crawler_crawl_arm(void)
{
	struct timeval tv = {0, (suseconds_t)settings.lru_crawler_sleep};

	if (crawler.ev != NULL)
		evtimer_add(crawler.ev, &tv);
}

/* One slice of a crawl: checks the items of the next buckets and reclaims
 * those past their exptime; ends the crawl after the last bucket. */
static void
crawler_crawl_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t nb = assoc_nbuckets(), end;

	(void)fd;
	(void)what;
	(void)arg;
	if (crawler.kind != CRAWL_EXPIRED)
		return;
	end = crawler.bucket + CRAWL_SLICE_BUCKETS;
	for (; crawler.bucket < nb && crawler.bucket < end; crawler.bucket++) {
		item *chains[2], *it, *next;
		int c;

		assoc_bucket(crawler.bucket, &chains[0], &chains[1]);
		for (c = 0; c < 2; c++) {
			for (it = chains[c]; it != NULL; it = next) {
				unsigned id = it->clsid;

				next = it->h_next;
				if (!crawler.classes[id])
					continue;
				if (settings.lru_crawler_tocrawl != 0 &&
				    crawler.checked[id] >=
				        settings.lru_crawler_tocrawl)
					continue;
				crawler.checked[id]++;
				item_stats[id].crawler_items_checked++;
				if (it->refcount == 0 &&
				    item_expired(it, current_time))
					items_crawler_reclaim(it);
			}
		}
	}
	if (crawler.bucket >= nb) {
		crawler_finish();
		return;
	}
	crawler_crawl_arm();
}

/* Starts a background crawl of the listed classes. */
enum crawler_result
crawler_crawl(const char *classes, size_t len)
{
	bool mask[SLAB_CLASS_MAX + 1];

	if (crawler.kind != CRAWL_NONE)
		return CRAWLER_RUNNING;
	if (!crawler_parse_classes(classes, len, false, mask))
		return CRAWLER_BADCLASS;
	memcpy(crawler.classes, mask, sizeof mask);
	crawler_begin(CRAWL_EXPIRED);
	crawler_crawl_arm();
	return CRAWLER_OK;
}

/* ---- lru_crawler metadump ---- */

/* Writes key into out with every byte outside [A-Za-z0-9._~-]
 * percent-encoded, as memcached does; returns the length. */
static size_t
crawler_uriencode(const char *key, size_t nkey, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, n = 0;

	for (i = 0; i < nkey; i++) {
		unsigned char ch = (unsigned char)key[i];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		    ch == '~' || ch == '-') {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	return n;
}

/* Writes one metadump line for a live item. Returns false if the
 * connection ran out of memory. */
static bool
crawler_dump_item(conn *c, const item *it)
{
	char key[KEY_MAX_LENGTH * 3 + 1];
	char *p = conn_out_reserve(c, DUMP_LINE_MAX);
	size_t nk;
	int n;

	if (p == NULL)
		return false;
	nk = crawler_uriencode(ITEM_key(it), it->nkey, key);
	key[nk] = '\0';
	n = snprintf(p, DUMP_LINE_MAX,
	             "key=%s exp=%ld la=%lu cas=%llu fetch=%s cls=%u "
	             "size=%zu\n",
	             key, it->exptime == 0 ? -1L : (long)it->exptime,
	             (unsigned long)it->atime, (unsigned long long)it->cas,
	             (it->iflags & ITEM_FETCHED) ? "yes" : "no",
	             (unsigned)it->clsid, item_ntotal(it->nkey, it->nbytes));
	conn_out_commit(c, n > 0 && n < DUMP_LINE_MAX ? (size_t)n : 0);
	return true;
}

/* One slice of a metadump: lines for the items of the next buckets, and
 * "END" after the last one. Returns true when the answer is complete. */
static bool
crawler_dump_step(conn *c, void *arg)
{
	uint64_t nb = assoc_nbuckets(), scanned = 0;
	size_t lines = 0;

	(void)arg;
	if (crawler.kind != CRAWL_METADUMP)
		return true; /* cancelled */
	while (crawler.bucket < nb && lines < DUMP_SLICE_ITEMS &&
	       scanned < DUMP_SCAN_MAX) {
		item *chains[2], *it;
		int ch;

		assoc_bucket(crawler.bucket, &chains[0], &chains[1]);
		for (ch = 0; ch < 2; ch++) {
			for (it = chains[ch]; it != NULL; it = it->h_next) {
				if ((it->iflags & ITEM_TOMBSTONE) ||
				    !crawler.classes[it->clsid] ||
				    item_expired(it, current_time))
					continue;
				if (!crawler_dump_item(c, it)) {
					crawler_finish();
					conn_close(c, "out of memory");
					return true;
				}
				lines++;
			}
		}
		crawler.bucket++;
		scanned++;
	}
	if (crawler.bucket < nb)
		return false;
	conn_out_str(c, "END\r\n");
	crawler_finish();
	return true;
}

/* The connection of a metadump closed before the end. */
static void
crawler_dump_cancel(void *arg)
{
	(void)arg;
	if (crawler.kind == CRAWL_METADUMP)
		crawler_finish();
}

/* Starts a metadump to c. */
enum crawler_result
crawler_metadump(conn *c, const char *classes, size_t len)
{
	bool mask[SLAB_CLASS_MAX + 1];

	if (crawler.kind != CRAWL_NONE)
		return CRAWLER_RUNNING;
	if (!crawler_parse_classes(classes, len, true, mask))
		return CRAWLER_BADCLASS;
	memcpy(crawler.classes, mask, sizeof mask);
	crawler_begin(CRAWL_METADUMP);
	if (!conn_job_start(c, crawler_dump_step, crawler_dump_cancel, NULL)) {
		crawler_finish();
		return CRAWLER_RUNNING;
	}
	return CRAWLER_OK;
}

/* ---- stats ---- */

/* Emits name with an unsigned value. */
static void
emit_u64(stat_emit_fn emit, void *ctx, const char *name, uint64_t v)
{
	char buf[24];

	util_u64toa(v, buf);
	emit(ctx, name, buf);
}

/* Emits name with a two-decimal value (memcached's "%.2f"). */
static void
emit_fmt2(stat_emit_fn emit, void *ctx, const char *name, double v)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%.2f", v);
	emit(ctx, name, buf);
}

/* The crawler's, the maintainer's and slab rebalancing's general stats
 * lines, each group while its feature is on, as memcached. */
void
crawler_stats(stat_emit_fn emit, void *ctx)
{
	const struct slabs_stats *ss = &slabs_stats;

	if (settings.slab_reassign) {
		emit_u64(emit, ctx, "slab_reassign_rescues",
		         ss->reassign_rescues);
		emit_u64(emit, ctx, "slab_reassign_chunk_rescues",
		         ss->reassign_chunk_rescues);
		emit_u64(emit, ctx, "slab_reassign_evictions_nomem",
		         ss->reassign_evictions_nomem);
		emit_u64(emit, ctx, "slab_reassign_inline_reclaim",
		         ss->reassign_inline_reclaim);
		emit_u64(emit, ctx, "slab_reassign_busy_items",
		         ss->reassign_busy_items);
		/* pages move at once here: none is ever in progress */
		emit_u64(emit, ctx, "slab_reassign_busy_deletes", 0);
		emit_u64(emit, ctx, "slab_reassign_running", 0);
		emit_u64(emit, ctx, "slabs_moved", ss->slabs_moved);
	}
	if (settings.lru_crawler) {
		emit_u64(emit, ctx, "lru_crawler_running", crawler_running());
		emit_u64(emit, ctx, "lru_crawler_starts", crawler.starts);
	}
	if (settings.lru_maintainer)
		emit_u64(emit, ctx, "lru_maintainer_juggles", items_juggles);
}

/* "stats reset" of the crawler's, the maintainer's and slab
 * rebalancing's counters (items_stats_reset does the per-class ones). */
void
crawler_stats_reset(void)
{
	memset(&slabs_stats, 0, sizeof(slabs_stats));
	crawler.starts = 0;
	items_juggles = 0;
}

/* The "stats settings" lines of the crawler, LRU and slab options. */
void
crawler_stats_settings(stat_emit_fn emit, void *ctx)
{
	emit(ctx, "slab_reassign", settings.slab_reassign ? "yes" : "no");
	emit_u64(emit, ctx, "slab_automove", (uint64_t)settings.slab_automove);
	emit_u64(emit, ctx, "slab_automove_window",
	         settings.slab_automove_window);
	emit(ctx, "lru_crawler", settings.lru_crawler ? "yes" : "no");
	emit_u64(emit, ctx, "lru_crawler_sleep", settings.lru_crawler_sleep);
	emit_u64(emit, ctx, "lru_crawler_tocrawl",
	         settings.lru_crawler_tocrawl);
	emit(ctx, "dump_enabled", "yes");
	emit(ctx, "lru_maintainer_thread",
	     settings.lru_maintainer ? "yes" : "no");
	emit(ctx, "lru_segmented", settings.lru_segmented ? "yes" : "no");
	emit_u64(emit, ctx, "hot_lru_pct", settings.hot_lru_pct);
	emit_u64(emit, ctx, "warm_lru_pct", settings.warm_lru_pct);
	emit_fmt2(emit, ctx, "hot_max_factor", settings.hot_max_factor);
	emit_fmt2(emit, ctx, "warm_max_factor", settings.warm_max_factor);
	emit(ctx, "temp_lru", settings.temp_lru ? "yes" : "no");
	emit_u64(emit, ctx, "temporary_ttl", settings.temporary_ttl);
}
