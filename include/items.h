/* items.h: not written yet. */
#ifndef ITEMS_H
#define ITEMS_H
#endif
