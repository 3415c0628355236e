/* log.c: the one place that prints. Everything goes to stderr, which the
 * daemon keeps open under -d when verbose (as memcached does). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int log_verbose;

/* Prints one line, with ": strerror" appended when err is non-zero. */
static void
log_vprint(int err, const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof buf, fmt, ap);
	if (err != 0)
		fprintf(stderr, "%s: %s\n", buf, strerror(err));
	else
		fprintf(stderr, "%s\n", buf);
	fflush(stderr);
}

/* Sets the verbosity level. */
void
log_init(int verbose)
{
	log_verbose = verbose;
}

/* Logs a warning with errno's text. */
void
log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vprint(err, fmt, ap);
	va_end(ap);
}

/* Logs a warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(0, fmt, ap);
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
	log_vprint(0, fmt, ap);
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
	log_vprint(0, fmt, ap);
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
	log_vprint(0, fmt, ap);
	va_end(ap);
}

/* Logs with errno's text and exits. */
void
fatal(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vprint(err, fmt, ap);
	va_end(ap);
	exit(71);
}

/* Logs and exits. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(0, fmt, ap);
	va_end(ap);
	exit(71);
}
