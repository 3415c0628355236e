/* items.c: allocation with eviction, linking and the per-class LRUs.
 *
 * Each class has four LRUs, as memcached 1.6's segmented LRU (head = most
 * recent): new items enter HOT; the maintainer (items_maintain, every
 * 10 ms) moves HOT's tail to COLD once HOT holds more than hot_lru_pct of
 * the class's bytes or its tail is older than a fifth of COLD's, and
 * WARM's tail to COLD past warm_lru_pct or twice COLD's age. A read marks
 * an item FETCHED, a second read ACTIVE; an ACTIVE item in COLD moves to
 * WARM at once, one at HOT's tail flows to WARM, one at WARM's tail stays
 * in WARM. Only COLD is evicted from, so items read twice survive a flood
 * of writes. Items whose exptime is less than temporary_ttl away (with
 * -o temporary_ttl) go to TEMP, which is never evicted, only reclaimed.
 * With -o no_lru_segmented (or no_modern) every item is in COLD and reads
 * bump an item to the head at most once per ITEM_UPDATE_INTERVAL. */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "assoc.h"
#include "hash.h"
#include "items.h"
#include "settings.h"
#include "util.h"

#define TAIL_SEARCH_STEPS 64   /* COLD items looked at per allocation */
#define TAIL_SEARCH_MOVES 1024 /* ACTIVE COLD items sent to WARM meanwhile */
#define TAIL_SEARCH_REFS 5     /* referenced items skipped before giving up */
#define PULL_TRIES 5           /* tail items a maintainer pull looks at */
#define JUGGLE_MAX 64          /* maintainer moves per class per step */

struct item_class_stats item_stats[SLAB_CLASS_MAX + 1];
uint64_t items_juggles;
uint64_t items_flushed_below;
static item *lru_head[SLAB_CLASS_MAX + 1][LRU_COUNT];
static item *lru_tail[SLAB_CLASS_MAX + 1][LRU_COUNT];
static uint64_t lru_bytes[SLAB_CLASS_MAX + 1][LRU_COUNT];
static uint64_t lru_items[SLAB_CLASS_MAX + 1][LRU_COUNT];

/* Sets up the LRUs. */
void
items_init(void)
{
	memset(item_stats, 0, sizeof(item_stats));
	memset(lru_head, 0, sizeof(lru_head));
	memset(lru_tail, 0, sizeof(lru_tail));
	memset(lru_bytes, 0, sizeof(lru_bytes));
	memset(lru_items, 0, sizeof(lru_items));
	items_juggles = 0;
}

/* Puts an item at the head of its LRU (it->lru). */
static inline void
lru_push_head(item *it)
{
	unsigned id = it->clsid, l = it->lru;

	it->prev = NULL;
	it->next = lru_head[id][l];
	if (it->next != NULL)
		it->next->prev = it;
	lru_head[id][l] = it;
	if (lru_tail[id][l] == NULL)
		lru_tail[id][l] = it;
	lru_items[id][l]++;
	lru_bytes[id][l] += item_ntotal(it->nkey, it->nbytes);
}

/* Takes an item out of its LRU. */
static inline void
lru_remove(item *it)
{
	unsigned id = it->clsid, l = it->lru;

	if (it->prev != NULL)
		it->prev->next = it->next;
	else
		lru_head[id][l] = it->next;
	if (it->next != NULL)
		it->next->prev = it->prev;
	else
		lru_tail[id][l] = it->prev;
	it->next = it->prev = NULL;
	lru_items[id][l]--;
	lru_bytes[id][l] -= item_ntotal(it->nkey, it->nbytes);
}

/* Moves a linked item to the head of LRU l (its own or another). */
static void
lru_move(item *it, unsigned l)
{
	lru_remove(it);
	it->lru = (uint8_t)l;
	lru_push_head(it);
}

/* The LRU a newly linked item enters. */
static unsigned
lru_for_new(const item *it)
{
	if (settings.temp_lru && it->exptime != 0 &&
	    !(it->iflags & ITEM_TOMBSTONE) &&
	    it->exptime < current_time + settings.temporary_ttl)
		return LRU_TEMP;
	if (!settings.lru_segmented || (it->iflags & ITEM_TOMBSTONE))
		return LRU_COLD;
	return LRU_HOT;
}

/* Keeps HOT and WARM of class id within their shares of its bytes as
 * items come in: moves at most one tail item of each towards COLD (an
 * ACTIVE one to WARM, or within WARM), so their sizes stay bounded at any
 * write rate. Ages are left to the maintainer; nothing is freed here. */
static void
lru_balance(unsigned id)
{
	uint64_t total = lru_bytes[id][LRU_HOT] + lru_bytes[id][LRU_WARM] +
	                 lru_bytes[id][LRU_COLD];
	struct item_class_stats *cs = &item_stats[id];
	item *it = lru_tail[id][LRU_HOT];

	if (it != NULL && it->refcount == 0 &&
	    lru_bytes[id][LRU_HOT] > total * settings.hot_lru_pct / 100) {
		if (it->iflags & ITEM_ACTIVE) {
			it->iflags &= (uint8_t)~ITEM_ACTIVE;
			cs->moves_to_warm++;
			lru_move(it, LRU_WARM);
		} else {
			cs->moves_to_cold++;
			lru_move(it, LRU_COLD);
		}
	}
	it = lru_tail[id][LRU_WARM];
	if (it != NULL && it->refcount == 0 &&
	    lru_bytes[id][LRU_WARM] > total * settings.warm_lru_pct / 100) {
		if (it->iflags & ITEM_ACTIVE) {
			it->iflags &= (uint8_t)~ITEM_ACTIVE;
			cs->moves_within_lru++;
			lru_move(it, LRU_WARM);
		} else {
			cs->moves_to_cold++;
			lru_move(it, LRU_COLD);
		}
	}
}

/* Moves a linked item to the head of its LRU. */
void
items_bump(item *it)
{
	if (lru_head[it->clsid][it->lru] == it)
		return;
	lru_move(it, it->lru);
}

/* Records a read of a linked item (memcached's do_item_bump): the first
 * read marks it FETCHED, the second ACTIVE, which sends a COLD item to
 * WARM. In flat mode, bumps it once per ITEM_UPDATE_INTERVAL. */
void
items_mark_read(item *it)
{
	struct item_class_stats *cs = &item_stats[it->clsid];

	switch (it->lru) {
	case LRU_HOT:
		cs->hits_to_hot++;
		break;
	case LRU_WARM:
		cs->hits_to_warm++;
		break;
	case LRU_COLD:
		cs->hits_to_cold++;
		break;
	default:
		cs->hits_to_temp++;
		break;
	}
	if (!settings.lru_segmented) {
		it->iflags |= ITEM_FETCHED;
		if (it->atime + ITEM_UPDATE_INTERVAL <= current_time)
			items_bump(it);
		it->atime = current_time;
		return;
	}
	if (it->iflags & ITEM_ACTIVE)
		return;
	if (!(it->iflags & ITEM_FETCHED)) {
		it->iflags |= ITEM_FETCHED;
		return;
	}
	it->iflags |= ITEM_ACTIVE;
	if (it->lru == LRU_COLD) {
		it->iflags &= (uint8_t)~ITEM_ACTIVE;
		cs->moves_to_warm++;
		lru_move(it, LRU_WARM);
	}
	it->atime = current_time;
}

/* Links an item into the hash table and at the head of its LRU. */
void
items_link(item *it, uint64_t hv)
{
	struct item_class_stats *cs = &item_stats[it->clsid];
	size_t ntotal = item_ntotal(it->nkey, it->nbytes);

	it->iflags = (uint8_t)((it->iflags & ~ITEM_SLABBED) | ITEM_LINKED);
	assoc_insert(it, hv);
	it->lru = (uint8_t)lru_for_new(it);
	lru_push_head(it);
	if (it->lru == LRU_HOT)
		lru_balance(it->clsid);
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

/* Moves a linked unreferenced item into chunk (a free chunk of its class
 * elsewhere) during a page move: same key, value and place in the LRU. */
bool
items_rescue(item *old, item *chunk)
{
	uint64_t hv = hash_key(ITEM_key(old), old->nkey);
	unsigned id = old->clsid;

	if (!(old->iflags & ITEM_LINKED) || old->refcount > 0)
		return false;
	assoc_remove(old, hv);
	memcpy(chunk, old, item_ntotal(old->nkey, old->nbytes));
	chunk->h_next = NULL;
	if (chunk->prev != NULL)
		chunk->prev->next = chunk;
	else
		lru_head[id][chunk->lru] = chunk;
	if (chunk->next != NULL)
		chunk->next->prev = chunk;
	else
		lru_tail[id][chunk->lru] = chunk;
	assoc_insert(chunk, hv);
	old->next = old->prev = old->h_next = NULL;
	old->iflags = 0;
	return true;
}

/* Calls fn on the items of class id's LRU from the head until it returns
 * false. */
void
items_lru_walk(unsigned id, bool (*fn)(item *it, void *arg), void *arg)
{
	static const unsigned order[] = {LRU_HOT, LRU_WARM, LRU_COLD, LRU_TEMP};
	unsigned l;
	item *it;

	for (l = 0; l < LRU_COUNT; l++)
		for (it = lru_head[id][order[l]]; it != NULL; it = it->next)
			if (!fn(it, arg))
				return;
}

/* Reclaims a dead (expired or flushed) unreferenced item among the last
 * few of each of class id's LRUs, as memcached does before it allocates:
 * a store then reuses its memory (counted in `reclaimed`). Returns true if
 * a chunk of class id was freed. */
static bool
lru_reclaim_tail(unsigned id)
{
	unsigned l, steps;
	item *it;

	for (l = 0; l < LRU_COUNT; l++) {
		for (it = lru_tail[id][l], steps = 0; it != NULL && steps < 5;
		     it = it->prev, steps++) {
			if (it->refcount == 0 &&
			    item_expired(it, current_time)) {
				reclaim(it);
				return true;
			}
		}
	}
	return false;
}

/* Frees one item from the COLD tail of class id: expired ones first,
 * ACTIVE ones go to WARM, the rest are evicted (unless -M). Returns true
 * if a chunk of class id was freed. */
static bool
lru_pull_cold(unsigned id)
{
	struct item_class_stats *cs = &item_stats[id];
	item *it = lru_tail[id][LRU_COLD], *prev;
	unsigned steps = 0, refs = 0, moves = 0;

	for (; it != NULL && steps < TAIL_SEARCH_STEPS; it = prev) {
		prev = it->prev;
		if ((it->iflags & ITEM_ACTIVE) && it->refcount == 0 &&
		    moves < TAIL_SEARCH_MOVES &&
		    !item_expired(it, current_time)) {
			it->iflags &= (uint8_t)~ITEM_ACTIVE;
			lru_move(it, LRU_WARM);
			cs->moves_to_warm++;
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

/* One maintainer pull from the tail of HOT or WARM of class id (or a
 * TEMP reclaim): reclaims an expired tail item, moves an ACTIVE one to
 * WARM, or moves the tail to COLD once the LRU is over `limit` bytes or
 * its tail older than max_age. With force, HOT's or WARM's tail goes to
 * COLD whatever its size (an allocation needs COLD items). Returns 1 if
 * it did something. */
static int
lru_pull_hot_warm(unsigned id, unsigned l, uint64_t limit, uint32_t max_age,
                  bool force)
{
	struct item_class_stats *cs = &item_stats[id];
	item *it = lru_tail[id][l], *prev;
	int tries = PULL_TRIES;

	for (; it != NULL && tries > 0; it = prev, tries--) {
		prev = it->prev;
		if (it->refcount > 0)
			continue;
		if (item_expired(it, current_time)) {
			reclaim(it);
			return 1;
		}
		if (l == LRU_TEMP)
			return 0;
		if (it->iflags & ITEM_ACTIVE) {
			it->iflags &= (uint8_t)~ITEM_ACTIVE;
			if (l == LRU_WARM) {
				cs->moves_within_lru++;
				lru_move(it, LRU_WARM);
			} else {
				cs->moves_to_warm++;
				lru_move(it, LRU_WARM);
			}
			return 1;
		}
		if (force || lru_bytes[id][l] > limit ||
		    (current_time > it->atime &&
		     current_time - it->atime > max_age)) {
			cs->moves_to_cold++;
			lru_move(it, LRU_COLD);
			return 1;
		}
		return 0;
	}
	return 0;
}

/* Age in seconds of the tail of LRU l of class id (0 when empty). */
static uint32_t
lru_tail_age(unsigned id, unsigned l)
{
	item *it = lru_tail[id][l];

	if (it == NULL || current_time < it->atime)
		return 0;
	return current_time - it->atime;
}

/* Keeps class id's LRUs in shape (memcached's maintainer juggle):
 * reclaims expired tails of TEMP, HOT and WARM, and moves items from HOT
 * and WARM to COLD past their share or age. Returns the moves made. */
static unsigned
lru_juggle(unsigned id)
{
	uint64_t total;
	uint32_t cold_age, hot_age, warm_age;
	unsigned i, moves = 0;

	if (settings.temp_lru)
		for (i = 0; i < JUGGLE_MAX; i++) {
			if (lru_pull_hot_warm(id, LRU_TEMP, 0, 0, false) == 0)
				break;
			moves++;
		}
	cold_age = lru_tail_age(id, LRU_COLD);
	hot_age = (uint32_t)(cold_age * settings.hot_max_factor);
	warm_age = (uint32_t)(cold_age * settings.warm_max_factor);
	total = lru_bytes[id][LRU_HOT] + lru_bytes[id][LRU_WARM] +
	        lru_bytes[id][LRU_COLD];
	for (i = 0; i < JUGGLE_MAX; i++) {
		int did = lru_pull_hot_warm(id, LRU_HOT,
		                            total * settings.hot_lru_pct / 100,
		                            hot_age, !settings.lru_segmented);
		did += lru_pull_hot_warm(id, LRU_WARM,
		                         total * settings.warm_lru_pct / 100,
		                         warm_age, !settings.lru_segmented);
		if (did == 0)
			break;
		moves++;
	}
	return moves;
}

/* One pass of the LRU maintainer over every class holding items. */
void
items_maintain(void)
{
	unsigned id, n = slabs_nclasses();

	items_juggles++;
	for (id = 1; id <= n; id++) {
		struct item_class_stats *cs = &item_stats[id];
		if (cs->number + cs->tombstones == 0)
			continue;
		lru_juggle(id);
	}
}

/* Frees a chunk of class id for an allocation: from COLD, after moving
 * HOT's (or, with HOT empty, WARM's) tail towards COLD while COLD has
 * nothing to give, as memcached's do_item_alloc_pull (whose maintainer
 * thread keeps COLD filled; here the allocation does it when needed).
 * Returns true if one was freed. */
static bool
lru_pull_tail(unsigned id)
{
	unsigned i;

	for (i = 0; i < TAIL_SEARCH_MOVES; i++) {
		if (lru_pull_hot_warm(id, LRU_TEMP, 0, 0, false) ||
		    lru_pull_cold(id)) {
			if (i > 0)
				item_stats[id].direct_reclaims++;
			return true;
		}
		if (lru_pull_hot_warm(id, LRU_HOT, 0, 0, true) == 0 &&
		    lru_pull_hot_warm(id, LRU_WARM, 0, 0, true) == 0)
			break;
	}
	return false;
}

/* Emits name with the sum over every class of a per-class counter. */
static void
emit_total(stat_emit_fn emit, void *ctx, const char *name, size_t off)
{
	uint64_t sum = 0;
	unsigned id;
	char buf[24];

	for (id = 1; id <= SLAB_CLASS_MAX; id++)
		sum += *(const uint64_t *)((const char *)&item_stats[id] + off);
	util_u64toa(sum, buf);
	emit(ctx, name, buf);
}

/* The LRU lines of the general stats: memcached's item totals that the
 * store's own counters do not already give. */
void
items_stats_totals(stat_emit_fn emit, void *ctx)
{
#define T(name)                                                                \
	emit_total(emit, ctx, #name, offsetof(struct item_class_stats, name))
	if (settings.lru_maintainer)
		T(evicted_active);
	if (settings.lru_maintainer) {
		T(moves_to_cold);
		T(moves_to_warm);
		T(moves_within_lru);
		T(direct_reclaims);
		/* reads move items at once here, so none is ever dropped */
		emit(ctx, "lru_bumps_dropped", "0");
	}
#undef T
}

/* Items and age of LRU l of class id, for "stats items". */
void
items_lru_info(unsigned id, unsigned l, uint64_t *number, uint32_t *age)
{
	*number = lru_items[id][l];
	*age = lru_tail_age(id, l);
}

/* Takes one page from another class to class id. */
bool
items_rebalance_to(unsigned id)
{
	unsigned src = slabs_biggest_class(id), i;

	if (src != 0 &&
	    slabs_move_page(src, id, items_evict_for_move, items_rescue))
		return true;
	for (i = 1; i <= slabs_nclasses(); i++) {
		if (i == id || i == src || slabs_npages(i) == 0)
			continue;
		if (slabs_move_page(i, id, items_evict_for_move, items_rescue))
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
	if (!slabs_has_free(id))
		lru_reclaim_tail(id);
	it = slabs_alloc(id, false);
	if (it == NULL && lru_pull_tail(id))
		it = slabs_alloc(id, false);
	/* -o slab_automove=2: take a page from another class at once */
	if (it == NULL && settings.evict_to_free &&
	    settings.slab_automove == 2 && items_rebalance_to(id))
		it = slabs_alloc(id, false);
	/* a class always gets its first page, as memcached does; at the -m
	 * limit it is taken from another class first, so -m holds even when
	 * values spread over many classes */
	if (it == NULL && slabs_npages(id) == 0 && settings.evict_to_free &&
	    items_rebalance_to(id))
		it = slabs_alloc(id, false);
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
	it->lru = 0;
	memcpy(ITEM_key(it), key, nkey);
	*err = STORE_OK;
	return it;
}

/* Age in seconds of the oldest tail of class id's HOT, WARM and COLD. */
uint32_t
items_tail_age(unsigned id)
{
	uint32_t a = lru_tail_age(id, LRU_COLD), b;

	if ((b = lru_tail_age(id, LRU_WARM)) > a)
		a = b;
	if ((b = lru_tail_age(id, LRU_HOT)) > a)
		a = b;
	return a;
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
