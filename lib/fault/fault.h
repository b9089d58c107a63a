/*
 * Fault points for tests (fault.c): with the build option fault_injection
 * a test can have the process killed the n-th time it passes a named
 * point, or held there a while. The core and the built-in plugins may use it; it depends on
 * nothing. Without the option a point compiles to nothing.
 */
#ifndef DBS_FAULT_H
#define DBS_FAULT_H

#ifdef DBS_FAULT_INJECTION
/* Kill the process here when DBS_FAULT_KILL names this point, sleep here
 * when DBS_FAULT_PAUSE does (fault.c). */
void dbs__fault_point(const char *name);
#define DBS_FAULT_POINT(name) dbs__fault_point(name)
#else
#define DBS_FAULT_POINT(name) ((void)0)
#endif

#endif
