/* log.h: the one logging module. Levels follow memcached's -v, -vv, -vvv. */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LVL_WARN = 0,  /* always printed */
	LOG_LVL_INFO = 1,  /* -v: operator events (replication lines) */
	LOG_LVL_DEBUG = 2, /* -vv: client commands */
	LOG_LVL_TRACE = 3  /* -vvv: state transitions */
};

/* log.c */
extern int log_verbose;
/* Sets the verbosity (0..3). */
void log_init(int verbose);
/* Also writes every line to path, timestamped (-o log_file). Returns 0, or
 * -1 with errno set. */
int log_open(const char *path);
/* Also sends every line to syslog, facility daemon (-o syslog). */
void log_open_syslog(void);
/* Reopens the log file by its path (SIGHUP, after logrotate). */
void log_reopen(void);
/* Returns true with a log file or syslog: stderr then only gets warnings. */
bool log_has_sink(void);
/* Closes the log file and syslog. */
void log_close(void);
/* Prints "msg: strerror(errno)" at every level. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints msg at every level. */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints msg at -v and above. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints msg at -vv and above. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints msg at -vvv. */
void log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "msg: strerror(errno)" and exits with status 71 (EX_OSERR). */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* Prints msg and exits with status 71 (EX_OSERR). */
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#define log_enabled(lvl) (log_verbose >= (lvl))

#endif
