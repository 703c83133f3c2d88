/*
 * cpus.c - count the CPUs a process may use (affinity and cgroup quota).
 */
#include "autoconfig.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpus.h"

int lms_cpus_from_v1(long quota, long period)
{
	if (quota <= 0 || period <= 0)
		return 0;
	long n = (quota + period - 1) / period;
	return n > 4096 ? 4096 : (int)n;
}

int lms_cpus_parse_v2(const char *text)
{
	char q[32];
	long period = 0;
	if (sscanf(text, "%31s %ld", q, &period) != 2 || period <= 0)
		return -1;
	if (strcmp(q, "max") == 0)
		return 0;
	char *end;
	long quota = strtol(q, &end, 10);
	if (*end || quota <= 0)
		return -1;
	return lms_cpus_from_v1(quota, period);
}

/* Read a small file into buf; 0 or -1. */
static int read_small(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = 0;
	return n > 0 ? 0 : -1;
}

/* The cgroup v2 path of this process ("0::/path" in /proc/self/cgroup). */
static int cgroup_v2_path(char *path, size_t cap)
{
	char buf[4096];
	if (read_small("/proc/self/cgroup", buf, sizeof(buf)) < 0)
		return -1;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "0::", 3) == 0) {
			snprintf(path, cap, "%s", line + 3);
			return 0;
		}
	}
	return -1;
}

/* The cgroup CPU limit in whole CPUs, 0 when there is none. */
static int cgroup_limit(void)
{
	char buf[256], rel[1024], path[1200];
	if (cgroup_v2_path(rel, sizeof(rel)) == 0) {
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max", strcmp(rel, "/") ? rel : "");
		if (read_small(path, buf, sizeof(buf)) == 0 || read_small("/sys/fs/cgroup/cpu.max", buf, sizeof(buf)) == 0) {
			int n = lms_cpus_parse_v2(buf);
			return n > 0 ? n : 0;
		}
	}
	const char *dirs[] = { "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char qb[64], pb[64];
		snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dirs[i]);
		if (read_small(path, qb, sizeof(qb)) < 0)
			continue;
		snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dirs[i]);
		if (read_small(path, pb, sizeof(pb)) < 0)
			continue;
		return lms_cpus_from_v1(strtol(qb, NULL, 10), strtol(pb, NULL, 10));
	}
	return 0;
}

int lms_cpus_available(void)
{
	cpu_set_t set;
	int n = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (int)c : 1;
	}
	int limit = cgroup_limit();
	if (limit > 0 && limit < n)
		n = limit;
	return n > 0 ? n : 1;
}
