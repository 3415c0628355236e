/* proto_bin.c: not written yet. */
#include "config.h"
