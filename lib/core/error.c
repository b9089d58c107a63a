/* Error codes and the per-thread last error message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define ERRMSG_MAX 2048

/* Per thread, so concurrent callers never see each other's messages. */
static _Thread_local char last_error[ERRMSG_MAX];

DBS_API void dbs_vfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
	if (size == 0)
		return;
	int n = vsnprintf(buf, size, fmt, ap);
	if (n < 0)
		buf[0] = '\0';
}

DBS_API void dbs_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dbs_vfmt(buf, size, fmt, ap);
	va_end(ap);
}

int dbs__error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dbs_vfmt(last_error, sizeof last_error, fmt, ap);
	va_end(ap);
	return code;
}

void dbs__error_clear(void)
{
	last_error[0] = '\0';
}

DBS_API const char *dbs_error_last(void)
{
	return last_error;
}

DBS_API const char *dbs_strerror(int code)
{
	switch (code) {
	case DBS_OK: return "success";
	case DBS_EINVAL: return "invalid argument";
	case DBS_ECONFIG: return "invalid configuration";
	case DBS_ENOMEM: return "out of memory";
	case DBS_ESOURCE: return "source database error";
	case DBS_ETARGET: return "target database error";
	case DBS_EHUB: return "event hub error";
	case DBS_ESTATE: return "wrong state for this call";
	case DBS_ENOTFOUND: return "not found";
	case DBS_EPROTO: return "protocol error";
	case DBS_EIO: return "input/output error";
	case DBS_EEXISTS: return "already exists";
	case DBS_EINTERNAL: return "internal error";
	default: return "unknown error";
	}
}

DBS_API void dbs_free(void *ptr)
{
	free(ptr);
}
