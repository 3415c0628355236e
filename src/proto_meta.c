/* proto_meta.c: not written yet. */
#include "config.h"
