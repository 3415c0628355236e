/* util.h: small helpers shared by every module: number parsing, the clock,
 * big-endian numbers, host:port splitting and socket setup. */
#ifndef UTIL_H
#define UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Named limits, in one place. */
#define KEY_MAX_LENGTH 250         /* memcached's key limit */
#define LINE_MAX_LENGTH 2048       /* a non-retrieval text line */
#define GET_LINE_MAX_LENGTH 262144 /* a get/gets/gat line with many keys */
#define REALTIME_MAXDELTA                                                      \
	(60 * 60 * 24 * 30) /* exptime above this is absolute */

/* util.c */
/* Parses a whole token as an unsigned 64-bit number (memcached's rules:
 * digits only, optional leading spaces, no sign). Returns false on error. */
bool util_strtoull(const char *s, size_t len, uint64_t *out);
/* Same for unsigned 32-bit. */
bool util_strtoul(const char *s, size_t len, uint32_t *out);
/* Signed 64-bit and 32-bit variants (a leading '-' is allowed). */
bool util_strtoll(const char *s, size_t len, int64_t *out);
bool util_strtol(const char *s, size_t len, int32_t *out);
/* Writes v in decimal into buf (at least 21 bytes); returns the length. */
size_t util_u64toa(uint64_t v, char *buf);
/* Faults in the whole pages of [p, p + len) for writing with one call
 * instead of one page fault per page (best effort: a kernel before 5.14
 * leaves them to fault on first use). */
void util_populate(void *p, size_t len);
/* True if the key is 1..250 bytes with no space (control characters are
 * allowed, as in memcached). */
bool util_key_valid(const char *key, size_t nkey);
/* Splits "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address
 * (several colons, no brackets) s[0..len) into host and port; port is ""
 * when absent, host may be "". Returns false when malformed (no ']', junk
 * after it, an empty port) or when a part does not fit its buffer. */
bool util_split_hostport(const char *s, size_t len, char *host, size_t hostsz,
                         char *port, size_t portsz);
/* Makes fd non-blocking and close-on-exec. Returns 0 or -1. */
int util_nonblock(int fd);
/* Opens a non-blocking, close-on-exec TCP socket with SO_REUSEADDR, bound
 * to sa and listening with backlog. An AF_INET6 socket takes IPv6 peers
 * only when v6only, IPv4 ones too (as mapped addresses) otherwise. Returns
 * the socket, or -1 with errno set. */
int util_listen_socket(const struct sockaddr *sa, socklen_t salen, int backlog,
                       bool v6only);

/* Big-endian (network order) numbers in byte buffers, for the binary
 * protocol and the replication stream. util_put_* return the byte after. */
static inline uint16_t
util_get_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t
util_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
util_get_be64(const uint8_t *p)
{
	return (uint64_t)util_get_be32(p) << 32 | util_get_be32(p + 4);
}

static inline uint8_t *
util_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static inline uint8_t *
util_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static inline uint8_t *
util_put_be64(uint8_t *p, uint64_t v)
{
	p = util_put_be32(p, (uint32_t)(v >> 32));
	return util_put_be32(p, (uint32_t)v);
}

/* The clock. current_time is unix seconds, refreshed by util_clock_update()
 * once per event loop iteration and once a second by a timer. */
extern uint32_t current_time;
/* Milliseconds since the epoch, refreshed with current_time. */
extern uint64_t current_time_ms;
/* Refreshes current_time and current_time_ms from the system clock. */
void util_clock_update(void);
#ifndef NDEBUG
/* debugtime, for memcached's test suite (debug builds only): move the clock
 * by secs seconds, or stop and restart it. */
void util_clock_debug_move(int64_t secs);
void util_clock_debug_pause(bool pause);
#endif
/* Reads the wall clock in milliseconds right now (for version stamps,
 * which must order writes made less than a tick apart). */
uint64_t util_now_ms(void);
/* Converts a protocol exptime (0, relative up to 30 days, absolute above,
 * negative = already expired) to an absolute unix time; 0 means never.
 * A negative exptime gives 1 (a time in the past). */
uint32_t util_realtime(int64_t exptime);

#endif
