/* items.c: allocation with eviction, linking and the per-class LRUs.
 *
 * Each class has one LRU (head = most recent). Reads do not move items:
 * they set ITEM_ACTIVE, and when an active item reaches the tail it gets a
 * second chance (flag cleared, moved to the head) instead of being
 * evicted. Items read again after ITEM_UPDATE_INTERVAL are also bumped. */
#include "config.h"

#include <string.h>

#include "assoc.h"
#include "hash.h"
#include "items.h"
#include "settings.h"
#include "util.h"

#define TAIL_SEARCH_STEPS 64   /* inactive items looked at per allocation */
#define TAIL_SEARCH_MOVES 1024 /* second chances given per allocation */
#define TAIL_SEARCH_REFS 5     /* referenced items skipped before giving up */

struct item_class_stats item_stats[SLAB_CLASS_MAX + 1];
static item *lru_head[SLAB_CLASS_MAX + 1];
static item *lru_tail[SLAB_CLASS_MAX + 1];

/* Sets up the LRUs. */
void
items_init(void)
{
	memset(item_stats, 0, sizeof(item_stats));
	memset(lru_head, 0, sizeof(lru_head));
	memset(lru_tail, 0, sizeof(lru_tail));
}

/* Puts an item at the head of its class's LRU. */
static inline void
lru_push_head(item *it)
{
	unsigned id = it->clsid;

	it->prev = NULL;
	it->next = lru_head[id];
	if (it->next != NULL)
		it->next->prev = it;
	lru_head[id] = it;
	if (lru_tail[id] == NULL)
		lru_tail[id] = it;
}

/* Takes an item out of its class's LRU. */
static inline void
lru_remove(item *it)
{
	unsigned id = it->clsid;

	if (it->prev != NULL)
		it->prev->next = it->next;
	else
		lru_head[id] = it->next;
	if (it->next != NULL)
		it->next->prev = it->prev;
	else
		lru_tail[id] = it->prev;
	it->next = it->prev = NULL;
}

/* Moves a linked item to the head of its LRU. */
void
items_bump(item *it)
{
	if (lru_head[it->clsid] == it)
		return;
	lru_remove(it);
	lru_push_head(it);
}

/* Links an item into the hash table and at the head of its LRU. */
void
items_link(item *it, uint64_t hv)
{
	struct item_class_stats *cs = &item_stats[it->clsid];
	size_t ntotal = item_ntotal(it->nkey, it->nbytes);

	it->iflags = (uint8_t)((it->iflags & ~ITEM_SLABBED) | ITEM_LINKED);
	assoc_insert(it, hv);
	lru_push_head(it);
	if (it->iflags & ITEM_TOMBSTONE) {
		cs->tombstones++;
		store_stats.curr_tombstones++;
		store_stats.tombstones++;
	} else {
		cs->number++;
		cs->mem_requested += ntotal;
		store_stats.curr_items++;
		store_stats.total_items++;
		store_stats.bytes += ntotal;
	}
}

/* Takes an item out of the LRU and the counters (the hash table is done
 * by the caller) and frees it if unreferenced. */
static void
do_unlink(item *it)
{
	struct item_class_stats *cs = &item_stats[it->clsid];

	lru_remove(it);
	it->iflags &= (uint8_t)~ITEM_LINKED;
	if (it->iflags & ITEM_TOMBSTONE) {
		cs->tombstones--;
		store_stats.curr_tombstones--;
	} else {
		size_t ntotal = item_ntotal(it->nkey, it->nbytes);
		cs->number--;
		cs->mem_requested -= ntotal;
		store_stats.curr_items--;
		store_stats.bytes -= ntotal;
	}
	if (it->refcount == 0)
		slabs_free(it);
}

/* Unlinks an item; frees it if nobody holds a reference. */
void
items_unlink(item *it, uint64_t hv)
{
	if (!(it->iflags & ITEM_LINKED))
		return;
	assoc_remove(it, hv);
	do_unlink(it);
}

/* Unlinks old and links new in its place. */
void
items_replace(item *old, item *new_it, uint64_t hv)
{
	items_unlink(old, hv);
	items_link(new_it, hv);
}

/* Drops a reference; frees an unlinked item at zero. */
void
items_release(item *it)
{
	if (it->refcount > 0)
		it->refcount--;
	if (it->refcount == 0 && !(it->iflags & (ITEM_LINKED | ITEM_SLABBED)))
		slabs_free(it);
}

/* Evicts a linked unreferenced item: counters, then unlink. */
static void
evict(item *it)
{
	struct item_class_stats *cs = &item_stats[it->clsid];

	if (!(it->iflags & ITEM_TOMBSTONE)) {
		cs->evicted++;
		store_stats.evictions++;
		if (it->exptime != 0)
			cs->evicted_nonzero++;
		if (!(it->iflags & ITEM_FETCHED)) {
			cs->evicted_unfetched++;
			store_stats.evicted_unfetched++;
		}
		if (it->iflags & ITEM_ACTIVE)
			cs->evicted_active++;
		cs->evicted_time = current_time - it->atime;
	}
	items_unlink(it, hash_key(ITEM_key(it), it->nkey));
}

/* Reclaims a linked unreferenced item whose time has passed. */
static void
reclaim(item *it)
{
	struct item_class_stats *cs = &item_stats[it->clsid];

	cs->reclaimed++;
	store_stats.reclaimed++;
	if (!(it->iflags & (ITEM_FETCHED | ITEM_TOMBSTONE))) {
		cs->expired_unfetched++;
		store_stats.expired_unfetched++;
	}
	items_unlink(it, hash_key(ITEM_key(it), it->nkey));
}

/* Reclaims a linked item past its exptime found by the crawler. */
void
items_crawler_reclaim(item *it)
{
	item_stats[it->clsid].crawler_reclaimed++;
	reclaim(it);
}

/* Unlinks a linked item with refcount 0 during a page move. */
void
items_evict_for_move(item *it)
{
	if (item_expired(it, current_time))
		reclaim(it);
	else
		evict(it);
}

/* Frees one item from the LRU tail of class id: expired ones first,
 * active ones get a second chance, the rest are evicted (unless -M).
 * Returns true if a chunk of class id was freed. */
static bool
lru_pull_tail(unsigned id)
{
	struct item_class_stats *cs = &item_stats[id];
	item *it = lru_tail[id], *prev;
	unsigned steps = 0, refs = 0, moves = 0;

	/* Second chances are cheap and each one uses up a read's ACTIVE
	 * flag, so they are bounded separately (and only for latency). */
	for (; it != NULL && steps < TAIL_SEARCH_STEPS; it = prev) {
		prev = it->prev;
		if ((it->iflags & ITEM_ACTIVE) && it->refcount == 0 &&
		    moves < TAIL_SEARCH_MOVES &&
		    !item_expired(it, current_time)) {
			it->iflags &= (uint8_t)~ITEM_ACTIVE;
			items_bump(it);
			cs->moves_within_lru++;
			moves++;
			continue;
		}
		steps++;
		if (it->refcount > 0) {
			cs->lrutail_reflocked++;
			if (++refs >= TAIL_SEARCH_REFS)
				break;
			continue;
		}
		if (item_expired(it, current_time)) {
			reclaim(it);
			return true;
		}
		if (!settings.evict_to_free)
			continue;
		evict(it);
		return true;
	}
	return false;
}

/* Takes one page from another class to class id. */
bool
items_rebalance_to(unsigned id)
{
	unsigned src = slabs_biggest_class(id), i;

	if (src != 0 && slabs_move_page(src, id, items_evict_for_move))
		return true;
	for (i = 1; i <= slabs_nclasses(); i++) {
		if (i == id || i == src || slabs_npages(i) == 0)
			continue;
		if (slabs_move_page(i, id, items_evict_for_move))
			return true;
	}
	return false;
}

/* Allocates an unlinked item (refcount 1) with the key copied in. */
item *
items_alloc(const char *key, size_t nkey, uint32_t flags, uint32_t exptime,
            uint32_t nbytes, enum store_result *err)
{
	size_t ntotal = item_ntotal(nkey, nbytes);
	unsigned id;
	item *it;

	if (nkey > UINT8_MAX ||
	    (settings.item_size_max != 0 && ntotal > settings.item_size_max) ||
	    (id = slabs_clsid(ntotal)) == 0) {
		*err = STORE_TOO_LARGE;
		return NULL;
	}
	if (item_stats[id].flushed_free > 0 && slabs_has_free(id)) {
		/* the chunk comes from the free list, where flush_all put
		 * chunks: the memory of a flushed entry is reused */
		item_stats[id].flushed_free--;
		item_stats[id].reclaimed++;
		store_stats.reclaimed++;
	}
	it = slabs_alloc(id, false);
	if (it == NULL && lru_pull_tail(id))
		it = slabs_alloc(id, false);
	if (it == NULL && settings.evict_to_free && items_rebalance_to(id))
		it = slabs_alloc(id, false);
	/* a class always gets its first page, as memcached does */
	if (it == NULL && slabs_npages(id) == 0)
		it = slabs_alloc(id, true);
	if (it == NULL) {
		item_stats[id].outofmemory++;
		*err = STORE_NO_MEMORY;
		return NULL;
	}
	it->next = it->prev = it->h_next = NULL;
	it->cas = 0;
	it->version = 0;
	it->exptime = exptime;
	it->atime = current_time;
	it->nbytes = nbytes;
	it->flags = flags;
	it->origin = 0;
	it->refcount = 1;
	it->nkey = (uint8_t)nkey;
	it->clsid = (uint8_t)id;
	it->iflags = 0;
	it->pad = 0;
	memcpy(ITEM_key(it), key, nkey);
	*err = STORE_OK;
	return it;
}

/* Age in seconds of the LRU tail of class id. */
uint32_t
items_tail_age(unsigned id)
{
	item *it = lru_tail[id];

	if (it == NULL || current_time < it->atime)
		return 0;
	return current_time - it->atime;
}

/* Unlinks one item that assoc_clear already took out of the table. Its
 * chunk, if freed now, is counted as reusable (see items_alloc). */
static void
flush_one(item *it)
{
	if (it->refcount == 0 && !(it->iflags & ITEM_TOMBSTONE))
		item_stats[it->clsid].flushed_free++;
	do_unlink(it);
}

/* Zeroes the per-class counters (not the gauges) for "stats reset". */
void
items_stats_reset(void)
{
	unsigned i;

	for (i = 0; i <= SLAB_CLASS_MAX; i++) {
		struct item_class_stats *cs = &item_stats[i];
		struct item_class_stats keep = {
		    .number = cs->number,
		    .tombstones = cs->tombstones,
		    .mem_requested = cs->mem_requested,
		    .flushed_free = cs->flushed_free,
		};
		*cs = keep;
	}
}

/* Unlinks every item. */
void
items_flush_all(void)
{
	assoc_clear(flush_one);
}

/* Unlinks everything before the pages go away. */
void
items_destroy(void)
{
	items_flush_all();
}
