/* slabs.h: memory for items. Size classes grow by settings.factor; each
 * class carves pages of settings.slab_page_size into equal chunks and
 * keeps its free chunks on a list. Pages are malloc'ed on demand up to the
 * memory limit, and can move between classes (rebalancing). */
#ifndef SLABS_H
#define SLABS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define SLAB_CLASS_MAX 63 /* class ids are 1..SLAB_CLASS_MAX */

/* slabs.c */
/* Builds the size classes from settings (maxbytes, factor, chunk_size,
 * item_size_max, slab_page_size). */
void slabs_init(void);
/* Frees every page. */
void slabs_destroy(void);
/* Returns the class for an item of ntotal bytes, 0 if too large. */
unsigned slabs_clsid(size_t ntotal);
/* Number of classes (the largest id). */
unsigned slabs_nclasses(void);
/* Chunk size of a class. */
size_t slabs_chunk_size(unsigned id);
/* Pages owned by a class. */
unsigned slabs_npages(unsigned id);
/* Takes a free chunk of class id, getting a new page while under the
 * limit (or past it when force is true). NULL when out of memory. */
item *slabs_alloc(unsigned id, bool force);
/* True if class id has a chunk on its free list. */
bool slabs_has_free(unsigned id);
/* Returns a chunk to its class's free list. */
void slabs_free(item *it);
/* Moves one page from class src to class dst (0: the global page pool,
 * from which any class takes pages before allocating new ones). Each
 * linked item in the page is first offered to rescue(old, chunk) with a
 * free chunk of the class outside the page (rescue copies it there and
 * relinks it, or returns false); the others are handed to evict(), which
 * must unlink and free them. Pages holding referenced or
 * unlinked-but-allocated items are skipped. rescue may be NULL. Returns
 * true if a page moved. */
bool slabs_move_page(unsigned src, unsigned dst, void (*evict)(item *it),
                     bool (*rescue)(item *old, item *chunk));
/* Counters of page moves ("stats": slabs_moved, slab_reassign_*). */
struct slabs_stats {
	uint64_t slabs_moved;
	uint64_t reassign_rescues;         /* items copied out of a page */
	uint64_t reassign_chunk_rescues;   /* chunked items (none here) */
	uint64_t reassign_evictions_nomem; /* evicted: no free chunk */
	uint64_t reassign_inline_reclaim;  /* expired items reclaimed */
	uint64_t reassign_busy_items;      /* pages skipped for busy items */
};
extern struct slabs_stats slabs_stats;
/* Pages in the global page pool. */
unsigned slabs_global_pages(void);
/* Free chunks of class id (on its free list and uncarved). */
uint64_t slabs_free_chunks(unsigned id);
/* Chunks per page of class id. */
unsigned slabs_perslab(unsigned id);
/* The class with the most pages other than `not`, 0 if none has one. */
unsigned slabs_biggest_class(unsigned except);
/* True if the memory limit does not allow another page. */
bool slabs_limit_reached(void);
/* Changes the memory limit (bytes). */
void slabs_set_limit(size_t bytes);
/* Reports class id's chunks: all, free (on the free list), never handed
 * out yet at the end of the page being carved, and per page. */
void slabs_stats_class(unsigned id, uint64_t *total_chunks,
                       uint64_t *free_chunks, uint64_t *free_end,
                       unsigned *perslab);

#endif
