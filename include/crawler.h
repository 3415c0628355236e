/* crawler.h: the LRU crawler of memcached 1.6's text protocol: "lru_crawler
 * crawl" reclaims expired items of chosen classes in the background, and
 * "lru_crawler metadump" writes one line per live item to a client. Both
 * walk the hash table in slices, one per event-loop turn, so no client
 * waits behind a big store. */
#ifndef CRAWLER_H
#define CRAWLER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "conn.h"
#include "store.h"

enum crawler_result {
	CRAWLER_OK = 0,
	CRAWLER_RUNNING,    /* BUSY currently processing crawler request */
	CRAWLER_BADCLASS,   /* BADCLASS invalid class id */
	CRAWLER_NOTSTARTED, /* NOTSTARTED no items to crawl */
	CRAWLER_ERROR       /* ERROR an unknown error happened */
};

/* crawler.c */
/* Creates the crawler's timer on the loop. */
void crawler_init(struct event_base *base);
/* Stops a running crawl and frees the timer. */
void crawler_destroy(void);
/* True while a crawl or a metadump runs. */
bool crawler_running(void);
/* "lru_crawler crawl <classes>": "all" or a comma list of class ids.
 * Starts a background walk that reclaims expired items of those classes. */
enum crawler_result crawler_crawl(const char *classes, size_t len);
/* "lru_crawler metadump <all|hash|classes>": holds c while one line per
 * live item of those classes is written to it, then "END". */
enum crawler_result crawler_metadump(conn *c, const char *classes, size_t len);
/* The general stats lines of the crawler, the LRU maintainer and slab
 * rebalancing (each while it is on). */
void crawler_stats(stat_emit_fn emit, void *ctx);
/* "stats reset": zeroes those counters. */
void crawler_stats_reset(void);
/* The "stats settings" lines of the crawler, the LRU and slab options. */
void crawler_stats_settings(stat_emit_fn emit, void *ctx);

#endif
