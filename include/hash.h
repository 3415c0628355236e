/* hash.h: not written yet. */
#ifndef HASH_H
#define HASH_H
#endif
