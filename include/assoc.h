/* assoc.h: not written yet. */
#ifndef ASSOC_H
#define ASSOC_H
#endif
