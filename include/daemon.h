/* daemon.h: process concerns: daemonizing, pidfile, privileges, limits. */
#ifndef DAEMON_H
#define DAEMON_H

/* daemon.c */
/* Forks into the background; keeps stderr when verbose so -v -d still logs.
 * Returns 0 or -1. */
int daemon_detach(int keep_stderr);
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
