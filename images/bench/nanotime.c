/* Prints CLOCK_MONOTONIC in seconds with nanoseconds: busybox's clocks (/proc/uptime, `time`)
 * tick in 10 ms, too coarse for a 0.25 s workload. Built static by scripts/build-images.sh. */
#include <stdio.h>
#include <time.h>

int main(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	printf("%lld.%09ld\n", (long long)now.tv_sec, now.tv_nsec);
	return 0;
}
