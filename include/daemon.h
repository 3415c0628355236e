/* daemon.h: process concerns: daemonizing, pidfile, privileges, limits. */
#ifndef DAEMON_H
#define DAEMON_H

#include <stdbool.h>

/* daemon.c */
/* Forks into the background; the parent waits until daemon_ready() or the
 * child's death and exits with the outcome, printing the child's error.
 * Returns 0 in the child, or -1. */
int daemon_detach(void);
/* Under -d: releases the waiting parent and the caller's stderr (kept only
 * when keep_file and it is a regular file). Does nothing without -d. */
void daemon_ready(bool keep_file);
/* Writes the pid to path; logs a warning on failure. */
void daemon_write_pidfile(const char *path);
/* Removes the pidfile. */
void daemon_remove_pidfile(const char *path);
/* Drops root privileges to user (required when running as root). Exits
 * with EX_USAGE when root runs without -u, as memcached does. */
void daemon_drop_privileges(const char *user);
/* Raises RLIMIT_NOFILE for maxconns, and the core limit with -r. */
void daemon_set_limits(int maxconns, int coredumps);

#endif
