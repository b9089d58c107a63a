/* The growable byte buffer and arrays of the plugin SDK (dbstreams/sys/buf.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbstreams/sys/buf.h>

/* First allocation: most buffers hold a statement or a message header. */
#define BUF_MIN 256u

DBS_API int dbs_buf_reserve(dbs_buf *b, size_t extra)
{
	int rc = DBS_ENOMEM;
	if (extra > SIZE_MAX - b->len - 1)
		goto done;
	size_t need = b->len + extra + 1;
	rc = 0;
	if (need <= b->cap)
		goto done;
	rc = DBS_ENOMEM;
	size_t cap = b->cap ? b->cap : BUF_MIN;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (!p)
		goto done;
	b->data = p;
	b->cap = cap;
	rc = 0;
done:
	return rc;
}

DBS_API int dbs_buf_append(dbs_buf *b, const void *data, size_t len)
{
	int rc = dbs_buf_reserve(b, len);
	if (rc == 0) {
		if (len)
			memcpy(b->data + b->len, data, len);
		b->len += len;
		b->data[b->len] = '\0';
	}
	return rc;
}

DBS_API int dbs_buf_append_str(dbs_buf *b, const char *str)
{
	return dbs_buf_append(b, str, strlen(str));
}

DBS_API int dbs_buf_append_char(dbs_buf *b, char c)
{
	return dbs_buf_append(b, &c, 1);
}

DBS_API int dbs_buf_appendf(dbs_buf *b, const char *fmt, ...)
{
	int rc = DBS_EINVAL;
	va_list ap;
	/* One pass when the text fits the room already there (the usual
	 * case for a reused buffer); else measure, grow, write again. */
	size_t room = b->cap > b->len ? b->cap - b->len : 0;
	va_start(ap, fmt);
	int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto done;
	if ((size_t)n < room) {
		b->len += (size_t)n;
		rc = 0;
		goto done;
	}
	rc = DBS_ENOMEM;
	if (dbs_buf_reserve(b, (size_t)n) != 0)
		goto done;
	va_start(ap, fmt);
	int m = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = DBS_EINVAL;
	if (m != n)
		goto done;
	b->len += (size_t)n;
	rc = 0;
done:
	return rc;
}

DBS_API void dbs_buf_reset(dbs_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

DBS_API void dbs_buf_free(dbs_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

DBS_API int dbs_array_reserve(void **items, size_t *cap, size_t need, size_t item_size)
{
	int rc = 0;
	size_t n = *cap ? *cap : 16;
	if (need <= *cap)
		goto done;
	rc = DBS_ENOMEM;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			goto done;
		n *= 2;
	}
	if (item_size == 0 || n > SIZE_MAX / item_size)
		goto done;
	void *p = realloc(*items, n * item_size);
	if (!p)
		goto done;
	*items = p;
	*cap = n;
	rc = 0;
done:
	return rc;
}
