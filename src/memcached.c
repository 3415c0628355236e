/* memcached.c: main: settings, process setup, the event loop, shutdown. */
#include "config.h"

#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conn.h"
#include "crawler.h"
#include "daemon.h"
#include "log.h"
#include "repl.h"
#include "settings.h"
#include "stats.h"
#include "store.h"
#include "util.h"

static struct event_base *main_base;
static struct event *clock_ev;
static struct event *maintain_ev;
static struct event *sig_evs[4];
static struct event *hup_ev;
static bool shutting_down;

/* Every 10 ms while the store has items: one small step of hash growth
 * and expiry crawling, so the work of a second never holds the loop for
 * milliseconds at once. */
static void
maintain_cb(evutil_socket_t fd, short what, void *arg)
{
	store_maintain_step();
}

/* Runs the 10-ms steps only while they have work, so that an empty cache
 * wakes up once a second, not a hundred times. */
static void
maintain_arm(void)
{
	static const struct timeval step = {0, 10000};
	bool pending = event_pending(maintain_ev, EV_TIMEOUT, NULL) != 0;

	if (store_maintain_wanted() && !pending)
		event_add(maintain_ev, &step);
	else if (!store_maintain_wanted() && pending)
		event_del(maintain_ev);
}

/* Once a second: refresh the clock, run store upkeep, drop idle clients. */
static void
clock_cb(evutil_socket_t fd, short what, void *arg)
{
	util_clock_update();
	store_tick();
	conn_idle_check();
	maintain_arm();
}

/* Called once replication has drained: leave the loop. */
static void
shutdown_done(void)
{
	event_base_loopbreak(main_base);
}

/* Starts a clean shutdown: stop accepting, drain replication, exit. */
static void
memcached_request_shutdown(void)
{
	if (shutting_down)
		return;
	shutting_down = true;
	log_info("shutting down");
	conn_close_listeners();
	repl_drain(shutdown_done);
}

/* SIGTERM, SIGINT, SIGUSR1: clean shutdown; a second one exits at once. */
static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (shutting_down) {
		log_warnx("signal %d again: exiting now", (int)sig);
		event_base_loopbreak(main_base);
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	memcached_request_shutdown();
}

/* SIGHUP: reopen the log file (logrotate renamed it). */
static void
hup_cb(evutil_socket_t sig, short what, void *arg)
{
	log_reopen();
}

/* A -x name that does not resolve is most likely a typo: say so in one
 * line at every verbosity, and refuse to start when the resolver says the
 * name does not exist. A temporary failure (no DNS yet at boot) is only
 * a warning: the link retries once a second. */
static void
check_peer(void)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	int port, rc;

	if (settings.repl_port <= 0 || settings.repl_peer == NULL ||
	    settings_split_listen(settings.repl_peer, host, sizeof host,
	                          &port) != 0 ||
	    host[0] == '\0')
		return; /* repl_init() reports a malformed -x */
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc == 0) {
		freeaddrinfo(res);
		return;
	}
	if (rc == EAI_NONAME || rc == EAI_FAIL
#ifdef EAI_NODATA
	    || rc == EAI_NODATA
#endif
	) {
		log_warnx("replication: the -x peer '%s' does not resolve: %s",
		          host, gai_strerror(rc));
		exit(EX_USAGE_CODE);
	}
	log_warnx("replication: cannot resolve the -x peer '%s' now: %s "
	          "(retrying every second)",
	          host, gai_strerror(rc));
}

int
main(int argc, char **argv)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGUSR1};
	struct timeval one = {1, 0};
	size_t i;
	int r;

	settings_init();
	r = settings_parse(argc, argv);
	if (r == 1)
		return 0;
	if (r != 0)
		return r;
	r = settings_validate();
	if (r != 0)
		return r;
	log_init(settings.verbose);
	if (settings.log_syslog)
		log_open_syslog();
	conn_shutdown_request = memcached_request_shutdown;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN); /* until hup_cb takes it */
	daemon_set_limits(settings.maxconns, settings.coredumps);
	/* The secret file is read as the starting user (root, before -u):
	 * doc/hardening.md has it owned by root, mode 0600. */
	repl_preinit();
	check_peer();
	daemon_drop_privileges(settings.username);
	/* Opened as the run user, who must be able to reopen it on SIGHUP. */
	if (settings.log_file != NULL && log_open(settings.log_file) != 0)
		fatal("cannot open the log file %s", settings.log_file);
	if (settings.daemonize && daemon_detach() < 0)
		fatal("failed to daemonize");

	util_clock_update();
	stats_init();
	store_init();
	main_base = event_base_new();
	if (main_base == NULL)
		fatalx("cannot create the event loop");
	conn_init(main_base);
	crawler_init(main_base);
	repl_init(main_base);
	if (settings.pid_file != NULL)
		daemon_write_pidfile(settings.pid_file);

	clock_ev = event_new(main_base, -1, EV_PERSIST, clock_cb, NULL);
	event_add(clock_ev, &one);
	maintain_ev = event_new(main_base, -1, EV_PERSIST, maintain_cb, NULL);
	maintain_arm();
	for (i = 0; i < sizeof sigs / sizeof *sigs; i++) {
		sig_evs[i] = evsignal_new(main_base, sigs[i], signal_cb, NULL);
		event_add(sig_evs[i], NULL);
	}
	hup_ev = evsignal_new(main_base, SIGHUP, hup_cb, NULL);
	event_add(hup_ev, NULL);
	daemon_ready(settings.verbose > 0 && !log_has_sink());

	event_base_dispatch(main_base);

	if (settings.pid_file != NULL)
		daemon_remove_pidfile(settings.pid_file);
	conn_shutdown();
	crawler_destroy();
	repl_destroy();
	for (i = 0; i < sizeof sigs / sizeof *sigs; i++)
		event_free(sig_evs[i]);
	event_free(hup_ev);
	event_free(clock_ev);
	event_free(maintain_ev);
	event_base_free(main_base);
	store_destroy();
	stats_prefix_clear();
	log_close();
	return 0;
}
