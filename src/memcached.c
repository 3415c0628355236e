/* memcached.c: main: settings, process setup, the event loop, shutdown. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conn.h"
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
	conn_shutdown_request = memcached_request_shutdown;
	signal(SIGPIPE, SIG_IGN);
	daemon_set_limits(settings.maxconns, settings.coredumps);
	repl_preinit();
	daemon_drop_privileges(settings.username);
	if (settings.daemonize && daemon_detach(settings.verbose > 0) < 0)
		fatal("failed to daemonize");

	util_clock_update();
	stats_init();
	store_init();
	main_base = event_base_new();
	if (main_base == NULL)
		fatalx("cannot create the event loop");
	conn_init(main_base);
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
	signal(SIGHUP, SIG_IGN);

	event_base_dispatch(main_base);

	if (settings.pid_file != NULL)
		daemon_remove_pidfile(settings.pid_file);
	conn_shutdown();
	repl_destroy();
	for (i = 0; i < sizeof sigs / sizeof *sigs; i++)
		event_free(sig_evs[i]);
	event_free(clock_ev);
	event_free(maintain_ev);
	event_base_free(main_base);
	store_destroy();
	stats_prefix_clear();
	return 0;
}
