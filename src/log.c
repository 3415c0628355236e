/* log.c: the one place that prints. Lines go to stderr, and, when the
 * operator asked for them, to a log file (each line prefixed with a local
 * ISO 8601 timestamp) and to syslog. With a log file or syslog, stderr
 * only gets warnings, so that a failed start still says why where it was
 * started (terminal, init script, journal). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int log_verbose;

static int log_fd = -1;    /* -o log_file, or -1 */
static char *log_path;     /* its path, for log_reopen() */
static bool log_to_syslog; /* -o syslog */

static void log_vprint(enum log_level lvl, int err, const char *fmt,
                       va_list ap);
static int log_file_open(const char *path);
static size_t log_stamp(char *buf, size_t size);

/* Opens path for appending; returns the descriptor or -1 with errno. */
static int
log_file_open(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* Writes "YYYY-MM-DDTHH:MM:SS.mmm+ZZZZ " into buf; returns its length. */
static size_t
log_stamp(char *buf, size_t size)
{
	struct timeval tv;
	struct tm tm;
	size_t n;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, size - n, ".%03d",
	                      (int)(tv.tv_usec / 1000));
	n += strftime(buf + n, size - n, "%z ", &tm);
	return n;
}

/* Prints one line, with ": strerror" appended when err is non-zero, to
 * every destination that takes level lvl. */
static void
log_vprint(enum log_level lvl, int err, const char *fmt, va_list ap)
{
	char msg[1024], line[1100];
	size_t n;
	int len;

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (err != 0) {
		n = strlen(msg);
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(err));
	}
	if (log_fd >= 0) {
		n = log_stamp(line, sizeof line);
		len = snprintf(line + n, sizeof line - n, "%s\n", msg);
		if (len > 0) {
			n += (size_t)len < sizeof line - n
			         ? (size_t)len
			         : sizeof line - n - 1;
			/* One write per line: O_APPEND keeps lines whole. */
			if (write(log_fd, line, n) < 0) {
				/* nowhere better to say it */
			}
		}
	}
	if (log_to_syslog)
		syslog(lvl == LOG_LVL_WARN   ? LOG_WARNING
		       : lvl == LOG_LVL_INFO ? LOG_INFO
		                             : LOG_DEBUG,
		       "%s", msg);
	if ((log_fd < 0 && !log_to_syslog) || lvl == LOG_LVL_WARN) {
		fprintf(stderr, "%s\n", msg);
		fflush(stderr);
	}
}

/* Sets the verbosity level. */
void
log_init(int verbose)
{
	log_verbose = verbose;
}

/* Starts writing to path (appended, created 0640). Returns 0, or -1 with
 * errno set. */
int
log_open(const char *path)
{
	int fd = log_file_open(path);

	if (fd < 0)
		return -1;
	free(log_path);
	log_path = strdup(path);
	if (log_path == NULL) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	return 0;
}

/* Starts sending lines to syslog (facility daemon, ident memcached). */
void
log_open_syslog(void)
{
	openlog("memcached", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_to_syslog = true;
}

/* Reopens the log file by its path (after logrotate renamed it). Keeps
 * the old descriptor when the new open fails, and says so. */
void
log_reopen(void)
{
	int fd;

	if (log_path == NULL)
		return;
	fd = log_file_open(log_path);
	if (fd < 0) {
		log_warn("cannot reopen the log file %s", log_path);
		return;
	}
	close(log_fd);
	log_fd = fd;
	log_info("log file reopened");
}

/* Returns true when lines go to a log file or syslog. */
bool
log_has_sink(void)
{
	return log_fd >= 0 || log_to_syslog;
}

/* Closes the log file and syslog (at exit). */
void
log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	free(log_path);
	log_path = NULL;
	if (log_to_syslog)
		closelog();
	log_to_syslog = false;
}

/* Logs a warning with errno's text. */
void
log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vprint(LOG_LVL_WARN, err, fmt, ap);
	va_end(ap);
}

/* Logs a warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(LOG_LVL_WARN, 0, fmt, ap);
	va_end(ap);
}

/* Logs at -v. */
void
log_info(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < LOG_LVL_INFO)
		return;
	va_start(ap, fmt);
	log_vprint(LOG_LVL_INFO, 0, fmt, ap);
	va_end(ap);
}

/* Logs at -vv. */
void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < LOG_LVL_DEBUG)
		return;
	va_start(ap, fmt);
	log_vprint(LOG_LVL_DEBUG, 0, fmt, ap);
	va_end(ap);
}

/* Logs at -vvv. */
void
log_trace(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < LOG_LVL_TRACE)
		return;
	va_start(ap, fmt);
	log_vprint(LOG_LVL_TRACE, 0, fmt, ap);
	va_end(ap);
}

/* Logs with errno's text and exits. */
void
fatal(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vprint(LOG_LVL_WARN, err, fmt, ap);
	va_end(ap);
	exit(71);
}

/* Logs and exits. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(LOG_LVL_WARN, 0, fmt, ap);
	va_end(ap);
	exit(71);
}
