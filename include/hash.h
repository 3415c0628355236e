/* hash.h: the key hash used by the hash table. */
#ifndef HASH_H
#define HASH_H

#include <stddef.h>
#include <stdint.h>

/* hash.c */
/* Returns a well-mixed 64-bit hash of len bytes at key. */
uint64_t hash_key(const void *key, size_t len);

#endif
