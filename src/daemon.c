/* daemon.c: process concerns: detaching from the terminal, the pidfile,
 * dropping root privileges, and resource limits. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "settings.h"

/* Descriptors besides client connections: listeners, the replication
 * listener and link, the pidfile, libevent's internals. */
#define NOFILE_HEADROOM 64

/* Under -d: the write end of the pipe the parent waits on (-1 otherwise),
 * and the caller's stderr when it is a regular file (-1 otherwise). */
static int ready_fd = -1;
static int saved_stderr = -1;

static void daemon_wait_child(int rfd, pid_t pid) __attribute__((noreturn));

/* The parent of -d: copies what the child prints before it is ready to
 * our stderr, then exits 0 once the child says it is ready (a NUL byte),
 * or with the child's exit status when it dies first. Never returns. */
static void
daemon_wait_child(int rfd, pid_t pid)
{
	char buf[512];
	ssize_t n;
	int st;

	for (;;) {
		n = read(rfd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		char *nul = memchr(buf, '\0', (size_t)n);
		size_t len = nul != NULL ? (size_t)(nul - buf) : (size_t)n;

		if (len > 0 && write(STDERR_FILENO, buf, len) < 0) {
			/* the caller closed its stderr: keep waiting */
		}
		if (nul != NULL)
			_exit(0);
	}
	/* No NUL: the child exited (or exec'd) before it was ready. */
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			log_warn("failed to start: waitpid");
			_exit(71);
		}
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		_exit(WEXITSTATUS(st));
	if (WIFSIGNALED(st))
		log_warnx("failed to start: the daemon was killed by signal %d",
		          WTERMSIG(st));
	else
		log_warnx("failed to start: the daemon exited");
	_exit(71);
}

/* Forks into the background. The parent waits for daemon_ready() (or the
 * child's death) and exits with the outcome, so that a failed start says
 * why, and says it on the caller's stderr. Until then the child's stderr
 * is a pipe to the parent. Returns 0 in the child, or -1 on error. */
int
daemon_detach(void)
{
	struct stat st;
	int fd, pfd[2];
	pid_t pid;

	if (pipe(pfd) != 0) {
		log_warn("pipe");
		return -1;
	}
	fflush(stderr);
	switch ((pid = fork())) {
	case -1:
		log_warn("fork");
		return -1;
	case 0:
		break;
	default:
		close(pfd[1]);
		daemon_wait_child(pfd[0], pid);
	}
	close(pfd[0]);
	ready_fd = pfd[1];
	(void)fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
	if (setsid() == -1) {
		log_warn("setsid");
		return -1;
	}
	if (chdir("/") != 0) {
		log_warn("chdir /");
		return -1;
	}
	/* A regular file as stderr (memcached -v -d 2>>file) can be kept;
	 * a terminal, pipe or socket never is. */
	if (fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode))
		saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	fd = open("/dev/null", O_RDWR);
	if (fd == -1) {
		log_warn("open /dev/null");
		return -1;
	}
	if (dup2(fd, STDIN_FILENO) == -1 || dup2(fd, STDOUT_FILENO) == -1 ||
	    dup2(ready_fd, STDERR_FILENO) == -1) {
		log_warn("dup2");
		close(fd);
		return -1;
	}
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

/* Tells the waiting parent of -d that we serve, and lets go of the
 * caller's stderr: it becomes /dev/null, or the caller's regular file
 * when keep_file (verbose, no log file). Does nothing without -d. */
void
daemon_ready(bool keep_file)
{
	int fd;

	if (ready_fd < 0)
		return;
	fflush(stderr);
	if (keep_file && saved_stderr >= 0)
		fd = saved_stderr;
	else
		fd = open("/dev/null", O_WRONLY);
	if (fd >= 0 && dup2(fd, STDERR_FILENO) == -1)
		log_warn("dup2");
	if (fd > STDERR_FILENO)
		close(fd);
	if (saved_stderr >= 0 && saved_stderr != fd)
		close(saved_stderr);
	saved_stderr = -1;
	if (write(ready_fd, "", 1) != 1)
		log_warn("cannot tell the parent we are ready");
	close(ready_fd);
	ready_fd = -1;
}

/* Writes our pid and a newline to path; logs a warning on failure. */
void
daemon_write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	if (path == NULL)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		log_warn("Could not open the pid file %s for writing", path);
		return;
	}
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n)
		log_warn("Could not write the pid file %s", path);
	if (close(fd) != 0)
		log_warn("Could not close the pid file %s", path);
}

/* Removes the pidfile; a file already gone is not an error. */
void
daemon_remove_pidfile(const char *path)
{
	if (path == NULL)
		return;
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("Could not remove the pid file %s", path);
}

/* Becomes user when running as root; exits 64 when root gave no -u, as
 * memcached does. Does nothing for an unprivileged user. */
void
daemon_drop_privileges(const char *user)
{
	struct passwd *pw;

	if (getuid() != 0 && geteuid() != 0)
		return;
	if (user == NULL || *user == '\0') {
		log_warnx("can't run as root without the -u switch");
		exit(EX_USAGE_CODE);
	}
	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		log_warnx("can't find the user %s to switch to", user);
		exit(EX_USAGE_CODE);
	}
	if (pw->pw_uid == 0)
		return; /* -u root: allowed, nothing to drop */
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
		fatal("failed to assume identity of user %s", user);
	/* Make sure root cannot be regained. */
	if (setuid(0) == 0)
		fatalx("failed to drop root privileges for user %s", user);
}

/* Raises RLIMIT_NOFILE so maxconns connections fit (plus headroom when
 * possible), and the core limit to its maximum with -r. Exits 71 when
 * maxconns descriptors cannot be had. */
void
daemon_set_limits(int maxconns, int coredumps)
{
	struct rlimit rl;
	rlim_t want, need;

	if (coredumps) {
		if (getrlimit(RLIMIT_CORE, &rl) != 0)
			fatal("failed to getrlimit core file size");
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur == 0)
			fatalx("failed to ensure corefile creation");
	}

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		fatal("failed to getrlimit number of files");
	need = (rlim_t)(maxconns > 0 ? maxconns : 1);
	want = need + NOFILE_HEADROOM;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		struct rlimit nrl = rl;

		nrl.rlim_cur = want;
		if (nrl.rlim_max != RLIM_INFINITY && nrl.rlim_max < want)
			nrl.rlim_max = want;
		/* Only root may raise the hard limit; otherwise settle for
		 * whatever the hard limit allows. */
		if (setrlimit(RLIMIT_NOFILE, &nrl) != 0) {
			nrl.rlim_max = rl.rlim_max;
			nrl.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &nrl) != 0)
				nrl.rlim_cur = rl.rlim_cur;
		}
		if (nrl.rlim_cur < need)
			fatalx(
			    "failed to set rlimit for open files. Try "
			    "starting as root or requesting smaller maxconns "
			    "value.");
	}
}
