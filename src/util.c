/* util.c: number parsing with memcached's rules, and the clock. */
#include "config.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

uint32_t current_time;
uint64_t current_time_ms;

/* Parses digits s[0..len) into *out; rejects empty, signs, overflow. */
bool
util_strtoull(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && s[i] == ' ')
		i++;
	if (i == len)
		return false;
	for (; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';
		if (d > 9)
			return false;
		/* overflow: UINT64_MAX is 1844674407370955161 * 10 + 5 */
		if (v >= UINT64_MAX / 10 &&
		    (v > UINT64_MAX / 10 || d > UINT64_MAX % 10))
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* 32-bit unsigned variant of util_strtoull. */
bool
util_strtoul(const char *s, size_t len, uint32_t *out)
{
	uint64_t v;

	if (!util_strtoull(s, len, &v) || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Parses an optionally negative decimal number into *out. */
bool
util_strtoll(const char *s, size_t len, int64_t *out)
{
	uint64_t v;
	size_t i = 0;
	bool neg = false;

	while (i < len && s[i] == ' ')
		i++;
	if (i < len && s[i] == '-') {
		neg = true;
		i++;
	}
	if (i == len || s[i] == ' ')
		return false;
	if (!util_strtoull(s + i, len - i, &v))
		return false;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = (int64_t)(0 - v);
	} else {
		if (v > INT64_MAX)
			return false;
		*out = (int64_t)v;
	}
	return true;
}

/* 32-bit signed variant of util_strtoll. */
bool
util_strtol(const char *s, size_t len, int32_t *out)
{
	int64_t v;

	if (!util_strtoll(s, len, &v) || v > INT32_MAX || v < INT32_MIN)
		return false;
	*out = (int32_t)v;
	return true;
}

/* Formats v in decimal; returns the number of characters written. */
size_t
util_u64toa(uint64_t v, char *buf)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

/* A key is 1..KEY_MAX_LENGTH bytes without a space. Control characters are
 * allowed, as in memcached's text protocol, where a key is any token: a
 * newline or a NUL ends the command line before it can reach a key. */
bool
util_key_valid(const char *key, size_t nkey)
{
	return nkey != 0 && nkey <= KEY_MAX_LENGTH &&
	       memchr(key, ' ', nkey) == NULL;
}

#ifndef NDEBUG
/* debugtime (debug builds only): seconds added to the clock, and whether
 * the clock stands still. */
static int64_t clock_offset;
static bool clock_paused;

/* Moves the clock by secs seconds (debugtime <secs>). */
void
util_clock_debug_move(int64_t secs)
{
	clock_offset += secs;
	current_time = (uint32_t)((int64_t)current_time + secs);
	current_time_ms = (uint64_t)((int64_t)current_time_ms + secs * 1000);
}

/* Stops (debugtime p) or restarts (debugtime r) the clock. */
void
util_clock_debug_pause(bool pause)
{
	clock_paused = pause;
}
#endif

/* Reads the wall clock into current_time and current_time_ms. */
void
util_clock_update(void)
{
	struct timeval tv;
	int64_t off = 0;

#ifndef NDEBUG
	if (clock_paused)
		return;
	off = clock_offset;
#endif
	gettimeofday(&tv, NULL);
	current_time = (uint32_t)(tv.tv_sec + off);
	current_time_ms =
	    (uint64_t)(tv.tv_sec + off) * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* Reads the wall clock in milliseconds, now (not the cached tick). */
uint64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Converts a protocol exptime into absolute unix time (0 = never). */
uint32_t
util_realtime(int64_t exptime)
{
	if (exptime == 0)
		return 0;
	if (exptime < 0)
		return 1;
	if (exptime > REALTIME_MAXDELTA) {
		if (exptime <= 1)
			return 1;
		if (exptime > UINT32_MAX)
			return UINT32_MAX;
		return (uint32_t)exptime;
	}
	return current_time + (uint32_t)exptime;
}

/* MADV_POPULATE_WRITE is Linux 5.14; older headers lack the name. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void
util_populate(void *p, size_t len)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	uintptr_t hi = ((uintptr_t)p + len) & ~(pg - 1);

	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
}
