/* items.h: item lifecycle on top of slabs and assoc: allocation with
 * eviction, linking into the hash table and the per-class LRU, unlinking,
 * and the per-class counters behind "stats items" and "stats slabs". */
#ifndef ITEMS_H
#define ITEMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slabs.h"
#include "store.h"

/* Seconds between LRU bumps of an item that keeps being read. */
#define ITEM_UPDATE_INTERVAL 60

/* Per-class counters. */
struct item_class_stats {
	uint64_t number;        /* linked live items */
	uint64_t tombstones;    /* linked tombstones */
	uint64_t mem_requested; /* bytes of linked items */
	uint64_t evicted, evicted_nonzero, evicted_unfetched, evicted_active;
	uint32_t evicted_time; /* age of the last evicted item */
	uint64_t outofmemory, reclaimed, expired_unfetched;
	uint64_t crawler_reclaimed, crawler_items_checked, lrutail_reflocked;
	uint64_t moves_within_lru;
	uint64_t get_hits, cmd_set, delete_hits, incr_hits, decr_hits;
	uint64_t cas_hits, cas_badval, touch_hits;
	uint64_t flushed_free; /* chunks freed by flush_all, not reused yet */
};

extern struct item_class_stats item_stats[SLAB_CLASS_MAX + 1];

/* True if the item's exptime has passed. */
static inline bool
item_expired(const item *it, uint32_t now)
{
	return it->exptime != 0 && it->exptime <= now;
}

/* Total bytes of an item with this key and value length. */
static inline size_t
item_ntotal(size_t nkey, size_t nbytes)
{
	return sizeof(item) + nkey + nbytes;
}

/* items.c */
/* Sets up the LRUs. */
void items_init(void);
/* Allocates an unlinked item (refcount 1) with the key copied in,
 * evicting from the class's LRU tail if memory is short. On failure
 * returns NULL and sets *err to STORE_TOO_LARGE or STORE_NO_MEMORY. */
item *items_alloc(const char *key, size_t nkey, uint32_t flags,
                  uint32_t exptime, uint32_t nbytes, enum store_result *err);
/* Links an item into the hash table and at the head of its LRU. */
void items_link(item *it, uint64_t hv);
/* Unlinks an item; frees it if nobody holds a reference. */
void items_unlink(item *it, uint64_t hv);
/* Unlinks old and links new in its place. */
void items_replace(item *old, item *new_it, uint64_t hv);
/* Drops a reference; frees an unlinked item at zero. */
void items_release(item *it);
/* Moves a linked item to the head of its LRU. */
void items_bump(item *it);
/* Unlinks a linked item with refcount 0 during a page move (an eviction). */
void items_evict_for_move(item *it);
/* Takes one page from another class to class id (rebalancing); true if
 * one moved. */
bool items_rebalance_to(unsigned id);
/* Reclaims a linked item past its exptime found by the crawler. */
void items_crawler_reclaim(item *it);
/* Age in seconds of the LRU tail of class id (0 when empty). */
uint32_t items_tail_age(unsigned id);
/* Zeroes the per-class counters, not the gauges ("stats reset"). */
void items_stats_reset(void);
/* Unlinks every item (flush). */
void items_flush_all(void);
/* Frees every linked item's slab chunk bookkeeping (before slabs_destroy). */
void items_destroy(void);

#endif
