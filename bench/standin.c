/* standin.c: a stand-in for a replication peer's CPU use, with no
 * replication at all: `standin SLEEP_US SPIN_US` sleeps SLEEP_US
 * microseconds, then busy-waits SPIN_US microseconds, until killed.
 *
 * bench/run runs it on the load generator's CPU at the peer's priority
 * while our daemon runs without a peer: on a machine with two CPUs the
 * peer has to share the load generator's CPU, and this control row shows
 * what that sharing alone costs the client's throughput. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* Returns monotonic microseconds. */
static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
main(int argc, char **argv)
{
	long sleep_us, spin_us;
	char *end1, *end2;

	if (argc != 3) {
		fprintf(stderr, "usage: standin SLEEP_US SPIN_US\n");
		return 64;
	}
	sleep_us = strtol(argv[1], &end1, 10);
	spin_us = strtol(argv[2], &end2, 10);
	if (*end1 != '\0' || *end2 != '\0' || sleep_us < 1 || spin_us < 0 ||
	    sleep_us > 1000000 || spin_us > 1000000) {
		fprintf(stderr, "standin: bad SLEEP_US or SPIN_US\n");
		return 64;
	}
	/* Wake up when asked, not up to 50 us later. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	for (;;) {
		long long t;

		usleep((useconds_t)sleep_us);
		t = now_us();
		while (now_us() - t < spin_us)
			;
	}
}
