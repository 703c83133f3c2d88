/*
 * cpus.h - how many CPUs this process may really use: its CPU affinity,
 * capped by a cgroup CPU quota (a Kubernetes pod's CPU limit), so that the
 * default number of workers fits a container rather than the whole node.
 */
#ifndef LMS_CPUS_H
#define LMS_CPUS_H

/* CPUs usable by this process, at least 1. */
int lms_cpus_available(void);

/* Parse cgroup v2 "cpu.max" text ("max 100000" or "150000 100000").
 * Returns the quota rounded up to whole CPUs, 0 for no limit, -1 when the
 * text is not understood. */
int lms_cpus_parse_v2(const char *text);

/* cgroup v1 quota and period in microseconds (quota -1 = no limit).
 * Returns whole CPUs rounded up, or 0 for no limit. */
int lms_cpus_from_v1(long quota, long period);

#endif
