/* hash.c: a fast 64-bit hash for short keys. Eight bytes at a time are
 * multiplied into the state and rotated; a xor-shift-multiply finalizer
 * spreads every input bit over the low bits used as the bucket index. */
#include "config.h"

#include <string.h>

#include "hash.h"

#define K0 0x9e3779b97f4a7c15ULL /* 2^64 / golden ratio */
#define K1 0xd6e8feb86659fd93ULL
#define K2 0xa0761d6478bd642fULL

/* Rotates x left by r bits (0 < r < 64). */
static inline uint64_t
rotl(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

/* Reads 8 bytes in host order from an unaligned pointer. */
static inline uint64_t
load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* Mixes one 64-bit word into the running state. */
static inline uint64_t
mix(uint64_t h, uint64_t w)
{
	w *= K1;
	w = rotl(w, 29);
	w *= K0;
	h ^= w;
	return rotl(h, 31) * K2 + K0;
}

/* Hashes key[0..len): 8-byte blocks, then the tail packed in one word. */
uint64_t
hash_key(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = K0 ^ ((uint64_t)len * K2);
	uint64_t tail = 0;
	size_t rest;

	while (len >= 8) {
		h = mix(h, load64(p));
		p += 8;
		len -= 8;
	}
	rest = len;
	if (rest > 0) {
		memcpy(&tail, p, rest);
		h = mix(h, tail ^ ((uint64_t)rest << 59));
	}
	/* finalizer */
	h ^= h >> 32;
	h *= K1;
	h ^= h >> 29;
	h *= K2;
	h ^= h >> 32;
	return h;
}
