/* slabs.c: size classes, pages and per-class free lists. */
#include "config.h"

#include <sys/mman.h>

#include <stdint.h>

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "settings.h"
#include "slabs.h"
#include "util.h"

struct slab_class {
	size_t size;      /* chunk size */
	unsigned perslab; /* chunks per page */
	char **pages;     /* pages owned */
	unsigned npages;
	unsigned pages_cap;
	item *free_head; /* doubly linked through next/prev */
	uint64_t nfree;
	/* The newest page's chunks are handed out in address order straight
	 * from the page, not through the free list: a fresh page is then
	 * written once, by the items stored in it, instead of once more to
	 * thread a free list through every chunk. */
	char *bump_page;    /* the page being carved, NULL if none */
	char *bump;         /* its next chunk */
	unsigned bump_left; /* chunks left from bump to its end */
};

static struct slab_class classes[SLAB_CLASS_MAX + 1];
static unsigned nclasses;
static size_t page_size;

/* Pages are carved from 2 MB regions, each faulted in with one call when
 * it is mapped (util_populate): taking a page fault per 4 KB is most of
 * the cost of loading a fresh node (a full copy), and on virtual machines
 * each fault is a trip to the hypervisor. With -L the regions are also
 * marked for transparent huge pages (fewer TLB misses; the kernel may
 * have to compact memory to find them). Pages are never returned to the
 * system before exit. */
#define REGION_SIZE ((size_t)2 << 20)
static char **regions;
static size_t nregions, regions_cap;
static char *region_next;
static size_t region_left;
static char **spare_pages; /* pages given back, reused first */
static size_t nspare, spare_cap;
static size_t mem_limit;
static size_t mem_malloced;
/* The global page pool: pages taken from classes ("slabs reassign N 0",
 * automove), counted in mem_malloced, handed to a class needing a page
 * before any new memory is allocated. */
static char **pool_pages;
static size_t npool, pool_cap;
struct slabs_stats slabs_stats;

/* memcached's item header (48 bytes): class sizes start from it rather
 * than from our 64-byte header, so that the table, and the class id of a
 * given value size, are memcached's (its tools and tests name classes by
 * id). Our items are 8 to 16 bytes larger, so a few sizes at a class's
 * upper edge land one class higher than in memcached. */
#define MC_ITEM_HEADER 48

/* Builds the size classes: MC_ITEM_HEADER + chunk_size, then times factor,
 * 8-byte aligned, and a last class of the largest item size. */
void
slabs_init(void)
{
	double factor = settings.factor > 1.0 ? settings.factor : 1.25;
	size_t largest, size;
	unsigned i = 0;

	page_size =
	    settings.slab_page_size ? settings.slab_page_size : 1024 * 1024;
	largest = settings.item_size_max ? settings.item_size_max : page_size;
	if (largest > page_size)
		largest = page_size;
	mem_limit = settings.maxbytes;
	mem_malloced = 0;
	memset(classes, 0, sizeof(classes));
	size = MC_ITEM_HEADER +
	       (size_t)(settings.chunk_size > 0 ? settings.chunk_size : 48);
	while (++i < SLAB_CLASS_MAX) {
		size = (size + 7) & ~(size_t)7;
		if ((double)size > (double)largest / factor)
			break;
		classes[i].size = size;
		classes[i].perslab = (unsigned)(page_size / size);
		size = (size_t)((double)size * factor);
	}
	classes[i].size = largest;
	classes[i].perslab = (unsigned)(page_size / largest);
	nclasses = i;
	store_stats.malloced = 0;
	store_stats.limit_maxbytes = mem_limit;
#ifndef NDEBUG
	{
		/* memcached's test hook (debug builds only): start as if this
		 * much memory were already allocated (t/64bit.t checks limits
		 * past 4 GB without using them). */
		const char *e = getenv("T_MEMD_INITIAL_MALLOC");

		if (e != NULL) {
			mem_malloced = (size_t)strtoull(e, NULL, 10);
			store_stats.malloced = mem_malloced;
		}
	}
#endif
}

/* True when pages come from huge-page regions rather than malloc. */
static bool
slabs_use_regions(void)
{
	return page_size <= REGION_SIZE && REGION_SIZE % page_size == 0;
}

/* Maps a REGION_SIZE-aligned region of REGION_SIZE bytes, populated (in
 * huge pages with -L); returns NULL on failure. */
static void *
slabs_region_map(void)
{
	size_t len = 2 * REGION_SIZE, head;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *r;

	if (m == MAP_FAILED)
		return NULL;
	r = (char *)(((uintptr_t)m + REGION_SIZE - 1) & ~(REGION_SIZE - 1));
	head = (size_t)(r - m);
	if (head > 0)
		munmap(m, head);
	if (len - head > REGION_SIZE)
		munmap(r + REGION_SIZE, len - head - REGION_SIZE);
	if (settings.large_pages)
		(void)madvise(r, REGION_SIZE, MADV_HUGEPAGE);
	util_populate(r, REGION_SIZE);
	return r;
}

/* Returns a fresh page of page_size bytes, or NULL. */
static char *
slabs_page_alloc(void)
{
	char *p;

	if (nspare > 0)
		return spare_pages[--nspare];
	if (!slabs_use_regions())
		return malloc(page_size);
	if (region_left < page_size) {
		void *r;

		if (nregions == regions_cap) {
			size_t ncap = regions_cap ? regions_cap * 2 : 64;
			char **nr = realloc(regions, ncap * sizeof(char *));
			if (nr == NULL)
				return NULL;
			regions = nr;
			regions_cap = ncap;
		}
		r = slabs_region_map();
		if (r == NULL)
			return NULL;
		regions[nregions++] = r;
		region_next = r;
		region_left = REGION_SIZE;
	}
	p = region_next;
	region_next += page_size;
	region_left -= page_size;
	return p;
}

/* Gives a page back for reuse; a region's page keeps its address but
 * its memory goes back to the system until it is used again. */
static void
slabs_page_release(char *page)
{
	if (!slabs_use_regions()) {
		free(page);
		return;
	}
	(void)madvise(page, page_size, MADV_DONTNEED);
	if (nspare == spare_cap) {
		size_t ncap = spare_cap ? spare_cap * 2 : 16;
		char **ns = realloc(spare_pages, ncap * sizeof(char *));
		if (ns == NULL)
			return; /* kept until exit */
		spare_pages = ns;
		spare_cap = ncap;
	}
	spare_pages[nspare++] = page;
}

/* Frees every page. */
void
slabs_destroy(void)
{
	unsigned i, p;
	size_t r;

	for (i = 1; i <= nclasses; i++) {
		if (!slabs_use_regions())
			for (p = 0; p < classes[i].npages; p++)
				free(classes[i].pages[p]);
		free(classes[i].pages);
	}
	if (!slabs_use_regions())
		for (r = 0; r < nspare; r++)
			free(spare_pages[r]);
	for (r = 0; r < nregions; r++)
		munmap(regions[r], REGION_SIZE);
	if (!slabs_use_regions())
		for (r = 0; r < npool; r++)
			free(pool_pages[r]);
	free(pool_pages);
	pool_pages = NULL;
	npool = pool_cap = 0;
	free(regions);
	free(spare_pages);
	regions = spare_pages = NULL;
	nregions = regions_cap = nspare = spare_cap = 0;
	region_next = NULL;
	region_left = 0;
	memset(classes, 0, sizeof(classes));
	nclasses = 0;
	mem_malloced = 0;
	store_stats.malloced = 0;
}

/* Returns the class for ntotal bytes (binary search), 0 if too large. */
unsigned
slabs_clsid(size_t ntotal)
{
	unsigned lo = 1, hi = nclasses;

	if (nclasses == 0 || ntotal > classes[nclasses].size)
		return 0;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (classes[mid].size >= ntotal)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Number of classes. */
unsigned
slabs_nclasses(void)
{
	return nclasses;
}

/* Chunk size of class id. */
size_t
slabs_chunk_size(unsigned id)
{
	return classes[id].size;
}

/* Pages owned by class id. */
unsigned
slabs_npages(unsigned id)
{
	return classes[id].npages;
}

/* Pushes a chunk on its class's free list. */
static inline void
freelist_push(struct slab_class *c, item *it)
{
	it->iflags = ITEM_SLABBED;
	it->refcount = 0;
	it->prev = NULL;
	it->next = c->free_head;
	if (c->free_head != NULL)
		c->free_head->prev = it;
	c->free_head = it;
	c->nfree++;
}

/* Takes a chunk off its class's free list. */
static inline void
freelist_remove(struct slab_class *c, item *it)
{
	if (it->prev != NULL)
		it->prev->next = it->next;
	else
		c->free_head = it->next;
	if (it->next != NULL)
		it->next->prev = it->prev;
	it->next = it->prev = NULL;
	it->iflags = 0;
	c->nfree--;
}

/* Adds a page to class id and carves it into free chunks. */
static bool
slabs_add_page(unsigned id, char *page)
{
	struct slab_class *c = &classes[id];
	unsigned i;

	if (c->npages == c->pages_cap) {
		unsigned ncap = c->pages_cap ? c->pages_cap * 2 : 16;
		char **np = realloc(c->pages, ncap * sizeof(char *));
		if (np == NULL)
			return false;
		c->pages = np;
		c->pages_cap = ncap;
	}
	c->pages[c->npages++] = page;
	/* What is left of the previous page being carved goes on the free
	 * list (only when a page moves in while one is being carved). */
	for (i = c->bump_left; i-- > 0;) {
		item *it = (item *)(c->bump + (size_t)i * c->size);
		it->clsid = (uint8_t)id;
		freelist_push(c, it);
	}
	c->bump_page = c->bump = page;
	c->bump_left = c->perslab;
	return true;
}

/* True if chunk i of page has never been handed out (the carved page's
 * tail). */
static inline bool
chunk_uncarved(const struct slab_class *c, const char *page, unsigned i)
{
	return page == c->bump_page && i >= c->perslab - c->bump_left;
}

/* True if the memory limit does not allow another page. */
bool
slabs_limit_reached(void)
{
	return mem_limit != 0 && mem_malloced + page_size > mem_limit;
}

/* Takes a free chunk of class id, adding a page if allowed. */
item *
slabs_alloc(unsigned id, bool force)
{
	struct slab_class *c = &classes[id];
	item *it;

	if (c->free_head != NULL) {
		it = c->free_head;
		freelist_remove(c, it);
		return it;
	}
	if (c->bump_left == 0 && npool > 0) {
		if (!slabs_add_page(id, pool_pages[npool - 1]))
			return NULL;
		npool--;
	}
	if (c->bump_left == 0) {
		char *page;
		if (slabs_limit_reached() && !force)
			return NULL;
		page = slabs_page_alloc();
		if (page == NULL)
			return NULL;
		if (!slabs_add_page(id, page)) {
			slabs_page_release(page);
			return NULL;
		}
		mem_malloced += page_size;
		store_stats.malloced = mem_malloced;
	}
	it = (item *)c->bump;
	c->bump += c->size;
	c->bump_left--;
	it->next = it->prev = NULL;
	it->refcount = 0;
	it->iflags = 0;
	it->clsid = (uint8_t)id;
	return it;
}

/* True if class id has a chunk on its free list. */
bool
slabs_has_free(unsigned id)
{
	return classes[id].free_head != NULL;
}

/* Returns a chunk to its class's free list. */
void
slabs_free(item *it)
{
	freelist_push(&classes[it->clsid], it);
}

/* True if every chunk of the page is free or a linked unreferenced item;
 * *used gets the number of items. */
static bool
page_movable(const struct slab_class *c, char *page, unsigned *used)
{
	unsigned i;

	*used = 0;
	for (i = 0; i < c->perslab; i++) {
		const item *it = (const item *)(page + (size_t)i * c->size);
		if (chunk_uncarved(c, page, i) || (it->iflags & ITEM_SLABBED))
			continue;
		if (!(it->iflags & ITEM_LINKED) || it->refcount > 0)
			return false;
		(*used)++;
	}
	return true;
}

/* Takes a free chunk of class c that is not in page (for a rescue), or
 * NULL. The page's own free chunks are off the list by then. */
static item *
chunk_outside(struct slab_class *c, const char *page)
{
	item *it;

	if (c->free_head != NULL) {
		it = c->free_head;
		freelist_remove(c, it);
		return it;
	}
	if (c->bump_left > 0 && c->bump_page != page) {
		it = (item *)c->bump;
		c->bump += c->size;
		c->bump_left--;
		it->iflags = 0;
		return it;
	}
	return NULL;
}

/* Adds a page to the global pool; false if it cannot be tracked. */
static bool
pool_add(char *page)
{
	if (npool == pool_cap) {
		size_t ncap = pool_cap ? pool_cap * 2 : 16;
		char **np = realloc(pool_pages, ncap * sizeof(char *));
		if (np == NULL)
			return false;
		pool_pages = np;
		pool_cap = ncap;
	}
	pool_pages[npool++] = page;
	return true;
}

/* Empties a page of class c: its free chunks leave the free list, its
 * items are rescued into other chunks of the class or evicted. */
static void
page_evacuate(unsigned src, char *page, void (*evict)(item *it),
              bool (*rescue)(item *old, item *chunk))
{
	struct slab_class *c = &classes[src];
	unsigned i;

	for (i = 0; i < c->perslab; i++) {
		item *it = (item *)(page + (size_t)i * c->size);
		if (!chunk_uncarved(c, page, i) && (it->iflags & ITEM_SLABBED))
			freelist_remove(c, it);
	}
	for (i = 0; i < c->perslab; i++) {
		item *it = (item *)(page + (size_t)i * c->size);
		item *dst;

		if (chunk_uncarved(c, page, i) || !(it->iflags & ITEM_LINKED))
			continue;
		dst = rescue != NULL ? chunk_outside(c, page) : NULL;
		if (dst != NULL) {
			dst->clsid = (uint8_t)src;
			if (rescue(it, dst)) {
				slabs_stats.reassign_rescues++;
				continue;
			}
			freelist_push(c, dst);
		}
		if (!(it->iflags & ITEM_TOMBSTONE) &&
		    !(it->exptime != 0 && it->exptime <= current_time))
			slabs_stats.reassign_evictions_nomem++;
		else
			slabs_stats.reassign_inline_reclaim++;
		evict(it);
		if (it->iflags & ITEM_SLABBED)
			freelist_remove(c, it);
	}
	for (i = 0; i < c->perslab; i++) {
		item *it = (item *)(page + (size_t)i * c->size);
		if (!chunk_uncarved(c, page, i) && it->iflags != 0)
			fatalx("slabs: chunk still in use after page eviction");
	}
}

/* Moves one page from class src to class dst (0: the global pool). */
bool
slabs_move_page(unsigned src, unsigned dst, void (*evict)(item *it),
                bool (*rescue)(item *old, item *chunk))
{
	struct slab_class *c = &classes[src];
	unsigned p = 0, i, best = 0;
	char *page = NULL;

	if (src == dst || src > nclasses || dst > nclasses)
		return false;
	if (src == 0) {
		if (npool == 0 || !slabs_add_page(dst, pool_pages[npool - 1]))
			return false;
		npool--;
		slabs_stats.slabs_moved++;
		return true;
	}
	/* the movable page with the fewest items: the fewest to rescue */
	for (i = c->npages; i-- > 0;) {
		unsigned used;
		if (!page_movable(c, c->pages[i], &used))
			continue;
		if (page == NULL || used < best) {
			page = c->pages[i];
			p = i;
			best = used;
			if (used == 0)
				break;
		}
	}
	if (page == NULL) {
		slabs_stats.reassign_busy_items++;
		return false;
	}
	page_evacuate(src, page, evict, rescue);
	if (page == c->bump_page) {
		c->bump_page = c->bump = NULL;
		c->bump_left = 0;
	}
	c->pages[p] = c->pages[--c->npages];
	if (dst == 0 && mem_limit != 0 && mem_malloced > mem_limit) {
		/* over a lowered limit (cache_memlimit): the page goes back
		 * to the system instead of to the pool */
		slabs_page_release(page);
		mem_malloced -= page_size;
		store_stats.malloced = mem_malloced;
	} else if (dst == 0 ? !pool_add(page) : !slabs_add_page(dst, page)) {
		/* cannot track it: give the memory back */
		slabs_page_release(page);
		mem_malloced -= page_size;
		store_stats.malloced = mem_malloced;
	}
	slabs_stats.slabs_moved++;
	log_debug("slabs: moved a page from class %u to class %u", src, dst);
	return true;
}

/* Pages in the global page pool. */
unsigned
slabs_global_pages(void)
{
	return (unsigned)npool;
}

/* Free chunks of class id. */
uint64_t
slabs_free_chunks(unsigned id)
{
	return classes[id].nfree + classes[id].bump_left;
}

/* Chunks per page of class id. */
unsigned
slabs_perslab(unsigned id)
{
	return classes[id].perslab;
}

/* The class with the most pages other than `not`, 0 if none. */
unsigned
slabs_biggest_class(unsigned except)
{
	unsigned i, best = 0, most = 0;

	for (i = 1; i <= nclasses; i++) {
		if (i != except && classes[i].npages > most) {
			most = classes[i].npages;
			best = i;
		}
	}
	return best;
}

/* Changes the memory limit. */
void
slabs_set_limit(size_t bytes)
{
	mem_limit = bytes;
	store_stats.limit_maxbytes = bytes;
}

/* Reports a class's chunk numbers for "stats slabs". */
void
slabs_stats_class(unsigned id, uint64_t *total_chunks, uint64_t *free_chunks,
                  uint64_t *free_end, unsigned *perslab)
{
	*perslab = classes[id].perslab;
	*total_chunks = (uint64_t)classes[id].npages * classes[id].perslab;
	*free_chunks = classes[id].nfree;
	*free_end = classes[id].bump_left;
}
