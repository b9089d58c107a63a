/*
 * Fault injection for tests: with the build option fault_injection, a
 * process whose environment holds DBS_FAULT_KILL="<point>:<n>" kills
 * itself (SIGKILL, as a crash would) the n-th time it passes the named
 * point, so a test can crash a stream between two steps it cannot time
 * from outside (after a publish, before the resume position is kept, …).
 * Without the option the points compile to nothing.
 */
#include "fault/fault.h"

#include <stdatomic.h>

#ifdef DBS_FAULT_INJECTION
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t fault_once = PTHREAD_ONCE_INIT;
static char fault_point[64];
static long fault_at;
static atomic_long fault_hits;

static void fault_read_env(void)
{
	const char *v = getenv("DBS_FAULT_KILL");
	const char *colon = v ? strrchr(v, ':') : NULL;
	if (!colon || (size_t)(colon - v) >= sizeof fault_point)
		return;
	memcpy(fault_point, v, (size_t)(colon - v));
	fault_point[colon - v] = '\0';
	fault_at = strtol(colon + 1, NULL, 10);
}

void dbs__fault_point(const char *name)
{
	pthread_once(&fault_once, fault_read_env);
	if (fault_at <= 0 || strcmp(name, fault_point) != 0)
		return;
	if (atomic_fetch_add(&fault_hits, 1) + 1 == fault_at)
		raise(SIGKILL);
}
#endif
