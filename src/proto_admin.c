/* proto_admin.c: the text administration commands of memcached 1.6 that
 * deal with the LRU crawler, the LRUs and slab pages, with memcached's
 * replies and error texts. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crawler.h"
#include "items.h"
#include "proto_admin.h"
#include "settings.h"
#include "slabs.h"
#include "stats.h"
#include "util.h"

#define ADMIN_MAX_TOKENS 8
#define CACHEDUMP_MAX_BYTES (2 * 1024 * 1024) /* memcached's cap */
#define MAX_CLASS_ID 64 /* memcached's MAX_NUMBER_OF_SLAB_CLASSES */

struct atok {
	const char *p;
	size_t len;
};

/* Splits a line into at most max space separated tokens; returns how many
 * (max + 1 if there were more). */
static size_t
admin_tokenize(const char *line, size_t len, struct atok *t, size_t max)
{
	const char *p = line, *end = line + len;
	size_t n = 0;

	for (;;) {
		const char *s;

		while (p < end && *p == ' ')
			p++;
		if (p == end)
			return n;
		if (n == max)
			return max + 1;
		s = p;
		while (p < end && *p != ' ')
			p++;
		t[n].p = s;
		t[n].len = (size_t)(p - s);
		n++;
	}
}

/* True if token t is the string s. */
static bool
atok_is(const struct atok *t, const char *s)
{
	size_t n = strlen(s);

	return t->len == n && memcmp(t->p, s, n) == 0;
}

/* True if a line's first words name an administration command. */
bool
proto_admin_match(const char *line, size_t len)
{
	struct atok t[2];
	size_t n = admin_tokenize(line, len, t, 2);

	if (n == 0)
		return false;
	return atok_is(&t[0], "lru_crawler") || atok_is(&t[0], "lru") ||
	       atok_is(&t[0], "slabs") ||
	       (n >= 2 && atok_is(&t[0], "stats") &&
	        atok_is(&t[1], "cachedump"));
}

/* Sends one reply line. */
static void
admin_reply(conn *c, const char *s)
{
	conn_out_str(c, s);
	conn_out(c, "\r\n", 2);
}

/* Sends the reply for a crawler result other than OK. */
static void
admin_crawler_error(conn *c, enum crawler_result r)
{
	switch (r) {
	case CRAWLER_RUNNING:
		admin_reply(c, "BUSY currently processing crawler request");
		break;
	case CRAWLER_BADCLASS:
		admin_reply(c, "BADCLASS invalid class id");
		break;
	case CRAWLER_NOTSTARTED:
		admin_reply(c, "NOTSTARTED no items to crawl");
		break;
	default:
		admin_reply(c, "ERROR an unknown error happened");
		break;
	}
}

/* lru_crawler enable|disable|crawl|metadump|tocrawl|sleep. */
static void
admin_lru_crawler(conn *c, struct atok *t, size_t n)
{
	uint32_t v;
	enum crawler_result r;

	if (n == 3 && atok_is(&t[1], "crawl")) {
		if (!settings.lru_crawler) {
			admin_reply(c, "CLIENT_ERROR lru crawler disabled");
			return;
		}
		r = crawler_crawl(t[2].p, t[2].len);
		if (r == CRAWLER_OK)
			admin_reply(c, "OK");
		else
			admin_crawler_error(c, r);
		return;
	}
	if (n == 3 && atok_is(&t[1], "metadump")) {
		if (!settings.lru_crawler) {
			admin_reply(c, "CLIENT_ERROR lru crawler disabled");
			return;
		}
		/* The dump's lines go straight to the client, so answers
		 * to earlier requests of the batch must not be queued. */
		if (c->wbytes > 0) {
			admin_reply(c, "ERROR cannot pipeline other commands "
			               "before metadump");
			return;
		}
		r = crawler_metadump(c, t[2].p, t[2].len);
		if (r != CRAWLER_OK)
			admin_crawler_error(c, r);
		return;
	}
	if (n == 3 && atok_is(&t[1], "tocrawl")) {
		if (!util_strtoul(t[2].p, t[2].len, &v)) {
			admin_reply(c, "CLIENT_ERROR bad command line format");
			return;
		}
		settings.lru_crawler_tocrawl = v;
		admin_reply(c, "OK");
		return;
	}
	if (n == 3 && atok_is(&t[1], "sleep")) {
		if (!util_strtoul(t[2].p, t[2].len, &v)) {
			admin_reply(c, "CLIENT_ERROR bad command line format");
			return;
		}
		if (v > 1000000) {
			admin_reply(c, "CLIENT_ERROR sleep must be one second "
			               "or less");
			return;
		}
		settings.lru_crawler_sleep = v;
		admin_reply(c, "OK");
		return;
	}
	if (n == 2 && atok_is(&t[1], "enable")) {
		settings.lru_crawler = true;
		admin_reply(c, "OK");
		return;
	}
	if (n == 2 && atok_is(&t[1], "disable")) {
		settings.lru_crawler = false;
		admin_reply(c, "OK");
		return;
	}
	admin_reply(c, "ERROR");
}

/* Parses a decimal number with an optional fraction (lru tune). */
static bool
admin_strtod(const struct atok *t, double *out)
{
	char buf[32], *end;

	if (t->len == 0 || t->len >= sizeof buf)
		return false;
	memcpy(buf, t->p, t->len);
	buf[t->len] = '\0';
	*out = strtod(buf, &end);
	return *end == '\0';
}

/* lru tune|mode|temp_ttl. */
static void
admin_lru(conn *c, struct atok *t, size_t n)
{
	if (n >= 6 && atok_is(&t[1], "tune")) {
		uint32_t hot, warm;
		double hot_factor, factor;

		if (!util_strtoul(t[2].p, t[2].len, &hot) ||
		    !util_strtoul(t[3].p, t[3].len, &warm) ||
		    !admin_strtod(&t[4], &hot_factor) ||
		    !admin_strtod(&t[5], &factor)) {
			admin_reply(c, "ERROR");
		} else if ((uint64_t)hot + warm > 80) {
			admin_reply(c, "ERROR hot and warm pcts must not "
			               "exceed 80");
		} else if (factor <= 0 || hot_factor <= 0) {
			admin_reply(c, "ERROR hot/warm age factors must be "
			               "greater than 0");
		} else {
			settings.hot_lru_pct = hot;
			settings.warm_lru_pct = warm;
			settings.hot_max_factor = hot_factor;
			settings.warm_max_factor = factor;
			admin_reply(c, "OK");
		}
		return;
	}
	if (n >= 3 && atok_is(&t[1], "mode") && settings.lru_maintainer) {
		if (atok_is(&t[2], "flat")) {
			settings.lru_segmented = false;
			admin_reply(c, "OK");
		} else if (atok_is(&t[2], "segmented")) {
			settings.lru_segmented = true;
			admin_reply(c, "OK");
		} else {
			admin_reply(c, "ERROR");
		}
		return;
	}
	if (n >= 3 && atok_is(&t[1], "temp_ttl") && settings.lru_maintainer) {
		int32_t ttl;

		if (!util_strtol(t[2].p, t[2].len, &ttl)) {
			admin_reply(c, "ERROR");
			return;
		}
		settings.temp_lru = ttl >= 0;
		if (ttl >= 0)
			settings.temporary_ttl = (uint32_t)ttl;
		admin_reply(c, "OK");
		return;
	}
	admin_reply(c, "ERROR");
}

/* slabs reassign <src> <dst>: moves one page now (src -1: any class;
 * dst 0: the global page pool). */
static void
admin_slabs_reassign(conn *c, struct atok *t)
{
	int32_t src, dst;
	unsigned nc = slabs_nclasses();

	if (!settings.slab_reassign) {
		admin_reply(c, "CLIENT_ERROR slab reassignment disabled");
		return;
	}
	if (!util_strtol(t[2].p, t[2].len, &src) ||
	    !util_strtol(t[3].p, t[3].len, &dst)) {
		admin_reply(c, "CLIENT_ERROR bad command line format");
		return;
	}
	if (src == dst) {
		admin_reply(c, "SAME src and dst class are identical");
		return;
	}
	if (src == -1)
		src = (int32_t)slabs_biggest_class(dst > 0 ? (unsigned)dst : 0);
	if (src < 0 || (uint32_t)src > nc || dst < 0 || (uint32_t)dst > nc) {
		admin_reply(c, "BADCLASS invalid src or dst class id");
		return;
	}
	if (src == dst) {
		admin_reply(c, "SAME src and dst class are identical");
		return;
	}
	if ((src == 0 ? slabs_global_pages() : slabs_npages((unsigned)src)) <
	    (src == 0 ? 1u : 2u)) {
		admin_reply(c, "NOSPARE source class has no spare pages");
		return;
	}
	if (!slabs_move_page((unsigned)src, (unsigned)dst, items_evict_for_move,
	                     items_rescue)) {
		admin_reply(c, "BUSY currently processing reassign request");
		return;
	}
	admin_reply(c, "OK");
}

/* slabs reassign|automove. */
static void
admin_slabs(conn *c, struct atok *t, size_t n)
{
	uint32_t level;

	if (n == 4 && atok_is(&t[1], "reassign")) {
		admin_slabs_reassign(c, t);
		return;
	}
	if (n >= 3 && atok_is(&t[1], "automove")) {
		if (atok_is(&t[2], "ratio")) {
			double ratio;
			if (n < 4 || !admin_strtod(&t[3], &ratio)) {
				admin_reply(c, "ERROR");
				return;
			}
		} else if (!util_strtoul(t[2].p, t[2].len, &level)) {
			admin_reply(c, "CLIENT_ERROR bad command line format");
			return;
		} else if (level > 2) {
			admin_reply(c, "ERROR");
			return;
		} else {
			settings.slab_automove = (int)level;
		}
		if (!atok_is(&t[n - 1], "noreply"))
			admin_reply(c, "OK");
		return;
	}
	admin_reply(c, "ERROR");
}

struct cachedump {
	conn *c;
	uint32_t limit;
	uint32_t shown;
	size_t bytes;
};

/* Writes one "ITEM <key> [<bytes> b; <exptime> s]" line; false to stop. */
static bool
admin_cachedump_one(item *it, void *arg)
{
	struct cachedump *d = arg;
	char line[KEY_MAX_LENGTH + 64];
	int n;

	if (d->limit != 0 && d->shown >= d->limit)
		return false;
	if (it->iflags & ITEM_TOMBSTONE)
		return true;
	n = snprintf(line, sizeof line, "ITEM %.*s [%u b; %lu s]\r\n",
	             (int)it->nkey, ITEM_key(it), it->nbytes,
	             (unsigned long)(it->exptime == 0 ? server_stats.started
	                                              : it->exptime));
	if (n <= 0 || (size_t)n >= sizeof line ||
	    d->bytes + (size_t)n + 6 > CACHEDUMP_MAX_BYTES)
		return false;
	conn_out(d->c, line, (size_t)n);
	d->bytes += (size_t)n;
	d->shown++;
	return true;
}

/* stats cachedump <class> <limit>: the items of a class's LRU from the
 * head, up to limit (0: all) and 2 MB of output, as memcached. */
static void
admin_cachedump(conn *c, struct atok *t, size_t n)
{
	struct cachedump d = {c, 0, 0, 0};
	uint32_t id;

	if (n < 4) {
		admin_reply(c, "CLIENT_ERROR bad command line");
		return;
	}
	if (!util_strtoul(t[2].p, t[2].len, &id) ||
	    !util_strtoul(t[3].p, t[3].len, &d.limit)) {
		admin_reply(c, "CLIENT_ERROR bad command line format");
		return;
	}
	if (id >= MAX_CLASS_ID) {
		admin_reply(c, "CLIENT_ERROR Illegal slab id");
		return;
	}
	if (id >= 1 && id <= slabs_nclasses())
		items_lru_walk(id, admin_cachedump_one, &d);
	conn_out(c, "END\r\n", 5);
}

/* Runs one administration line. */
enum proc_result
proto_admin_process(conn *c, const char *line, size_t len)
{
	struct atok t[ADMIN_MAX_TOKENS];
	size_t n = admin_tokenize(line, len, t, ADMIN_MAX_TOKENS);

	if (n > ADMIN_MAX_TOKENS) {
		admin_reply(c, "ERROR");
		return PROC_DONE;
	}
	if (atok_is(&t[0], "lru_crawler"))
		admin_lru_crawler(c, t, n);
	else if (atok_is(&t[0], "lru"))
		admin_lru(c, t, n);
	else if (atok_is(&t[0], "slabs"))
		admin_slabs(c, t, n);
	else
		admin_cachedump(c, t, n);
	return PROC_DONE;
}
