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

/* The four LRUs of a class (item->lru). */
enum { LRU_HOT = 0, LRU_WARM, LRU_COLD, LRU_TEMP, LRU_COUNT };

/* Per-class counters. */
struct item_class_stats {
	uint64_t number;        /* linked live items */
	uint64_t tombstones;    /* linked tombstones */
	uint64_t mem_requested; /* bytes of linked items */
	uint64_t evicted, evicted_nonzero, evicted_unfetched, evicted_active;
	uint32_t evicted_time; /* age of the last evicted item */
	uint64_t outofmemory, reclaimed, expired_unfetched;
	uint64_t crawler_reclaimed, crawler_items_checked, lrutail_reflocked;
	uint64_t moves_within_lru, moves_to_cold, moves_to_warm;
	uint64_t direct_reclaims;
	uint64_t hits_to_hot, hits_to_warm, hits_to_cold, hits_to_temp;
	uint64_t get_hits, cmd_set, delete_hits, incr_hits, decr_hits;
	uint64_t cas_hits, cas_badval, touch_hits;
	uint64_t flushed_free; /* chunks freed by flush_all, not reused yet */
};

extern struct item_class_stats item_stats[SLAB_CLASS_MAX + 1];
/* Passes of the LRU maintainer (lru_maintainer_juggles). */
extern uint64_t items_juggles;

/* flush_all is lazy, as in memcached: items and tombstones whose version
 * is below this were flushed. They are dead to every reader and go the way
 * expired items go (lookups, the crawler, LRU tails). Versions only grow, so
 * a write made after the flush, here or on the peer, stays. */
extern uint64_t items_flushed_below;

/* True if a flush_all removed the item. */
static inline bool
item_flushed(const item *it)
{
	return it->version < items_flushed_below;
}

/* True if the item's exptime has passed or a flush_all removed it. */
static inline bool
item_expired(const item *it, uint32_t now)
{
	return (it->exptime != 0 && it->exptime <= now) || item_flushed(it);
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
/* Records a read of a linked item: FETCHED, then ACTIVE (a COLD item moves
 * to WARM); in flat mode a bump once per ITEM_UPDATE_INTERVAL. */
void items_mark_read(item *it);
/* One pass of the LRU maintainer (every 10 ms while the store has items):
 * HOT and WARM tails move to COLD past their share, expired tails are
 * reclaimed. */
void items_maintain(void);
/* The LRU maintainer's lines of the general stats (evicted_active,
 * moves_to_cold, ...: memcached's item totals). */
void items_stats_totals(stat_emit_fn emit, void *ctx);
/* Items in LRU l of class id and the age of its tail, for stats. */
void items_lru_info(unsigned id, unsigned l, uint64_t *number, uint32_t *age);
/* Unlinks a linked item with refcount 0 during a page move (an eviction). */
void items_evict_for_move(item *it);
/* Copies a linked unreferenced item into chunk, a free chunk of its class
 * outside the page being moved, and relinks it there (a rescue). */
bool items_rescue(item *old, item *chunk);
/* Calls fn on class id's items from the LRU head until it returns false. */
void items_lru_walk(unsigned id, bool (*fn)(item *it, void *arg), void *arg);
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
