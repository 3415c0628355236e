/* slabs.h: not written yet. */
#ifndef SLABS_H
#define SLABS_H
#endif
