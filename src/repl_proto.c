/* repl_proto.c: not written yet. */
#include "config.h"
