/*
 * Fault injection for tests: with the build option fault_injection, a
 * process whose environment holds DBS_FAULT_KILL="<point>:<n>" kills
 * itself (SIGKILL, as a crash would) the n-th time it passes the named
 * point, so a test can crash a stream between two steps it cannot time
 * from outside (after a publish, before the resume position is kept, …).
 * DBS_FAULT_PAUSE="<point>:<ms>" instead makes every pass of the point
 * sleep that long, so a test can hold open a window between two steps
 * that another thread must never see apart.
 * Without the option the points compile to nothing.
 */
#include "fault/fault.h"

#include <stdatomic.h>

#ifdef DBS_FAULT_INJECTION
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_once_t fault_once = PTHREAD_ONCE_INIT;
static char fault_point[64];
static long fault_at;
static atomic_long fault_hits;
static char pause_point[64];
static long pause_ms;

/* "<point>:<n>" from the variable NAME into POINT and *N. */
static void fault_parse(const char *name, char point[64], long *n)
{
	const char *v = getenv(name);
	const char *colon = v ? strrchr(v, ':') : NULL;
	if (!colon || (size_t)(colon - v) >= 64)
		return;
	memcpy(point, v, (size_t)(colon - v));
	point[colon - v] = '\0';
	*n = strtol(colon + 1, NULL, 10);
}

static void fault_read_env(void)
{
	fault_parse("DBS_FAULT_KILL", fault_point, &fault_at);
	fault_parse("DBS_FAULT_PAUSE", pause_point, &pause_ms);
}

void dbs__fault_point(const char *name)
{
	pthread_once(&fault_once, fault_read_env);
	if (pause_ms > 0 && strcmp(name, pause_point) == 0) {
		struct timespec ts = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			continue;
	}
	if (fault_at <= 0 || strcmp(name, fault_point) != 0)
		return;
	if (atomic_fetch_add(&fault_hits, 1) + 1 == fault_at)
		raise(SIGKILL);
}
#endif
