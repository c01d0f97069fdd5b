/* Runs one command for hack/bench and prints "status ns maxrss_kb".
 *
 *   spawn ERRFILE /abs/path/cmd ARGS...
 *
 * Why a C helper: ru_maxrss of a process starts out as the RSS of the memory
 * image it had before exec. A child vforked by the Python harness would start
 * at Python's ~19 MiB and hide the runtime's own peak; forked from this tiny
 * static program it starts near zero (as with /usr/bin/time). The clock runs
 * from fork to reap, so only the command's own cost is timed. stdin and
 * stdout are /dev/null, stderr goes to ERRFILE. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec a, b;
	struct rusage ru;
	int st;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: spawn ERRFILE CMD [ARGS...]\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid = fork();
	if (pid < 0)
		return 3;
	if (pid == 0) {
		int n = open("/dev/null", O_RDWR);
		int e = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (n < 0 || e < 0 || dup2(n, 0) < 0 || dup2(n, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		execv(argv[2], argv + 2);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) < 0)
		return 3;
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%d %lld %ld\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
	       (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec),
	       ru.ru_maxrss);
	return 0;
}
