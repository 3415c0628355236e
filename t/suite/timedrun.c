/* timedrun.c: runs a command with a time limit, as memcached's test suite
 * expects of the `timedrun` helper beside its binary:
 *
 *     timedrun <seconds> <command> [args...]
 *
 * The command runs in a child process. When the limit passes, the child gets
 * SIGINT, then SIGKILL two seconds later if it is still there. Signals sent to
 * timedrun itself (the suite stops its daemons with SIGTERM or SIGINT) are
 * passed on to the child. Exits with the child's status, or 128 + the signal
 * that ended it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_alarm;
static volatile sig_atomic_t pass_sig;
static pid_t child;

/* Records an expired limit. */
static void
on_alarm(int sig)
{
	(void)sig;
	got_alarm = 1;
}

/* Passes a signal meant for us on to the child. */
static void
on_signal(int sig)
{
	pass_sig = sig;
	if (child > 0)
		kill(child, sig);
}

/* Waits for the child; returns its wait status, or -1 when interrupted by
 * the alarm. */
static int
wait_child(int *status)
{
	for (;;) {
		pid_t p = waitpid(child, status, 0);

		if (p == child)
			return 0;
		if (p < 0 && errno == EINTR) {
			if (got_alarm)
				return -1;
			continue;
		}
		return -2;
	}
}

/* Turns a wait status into an exit code. */
static int
exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	char *end;
	long limit;
	int status = 0;

	if (argc < 3) {
		fprintf(stderr,
		        "usage: timedrun <seconds> <command> [args...]\n");
		return 64;
	}
	errno = 0;
	limit = strtol(argv[1], &end, 10);
	if (errno || *end || limit <= 0) {
		fprintf(stderr, "timedrun: bad time limit '%s'\n", argv[1]);
		return 64;
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);

	child = fork();
	if (child < 0) {
		perror("timedrun: fork");
		return 1;
	}
	if (child == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "timedrun: cannot run %s: %s\n", argv[2],
		        strerror(errno));
		_exit(127);
	}
	alarm((unsigned)limit);
	if (wait_child(&status) == 0)
		return exit_code(status);
	fprintf(stderr, "timedrun: %s ran over %ld s: interrupting it\n",
	        argv[2], limit);
	got_alarm = 0;
	kill(child, SIGINT);
	alarm(2);
	if (wait_child(&status) == 0)
		return exit_code(status);
	fprintf(stderr, "timedrun: %s is still there: killing it\n", argv[2]);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	return exit_code(status);
}
