/*
 * dbstreams plugin SDK: a growable byte buffer, growable arrays, and text
 * into fixed buffers (the error messages every plugin method fills).
 *
 * The one buffer type of the library and its plugins: SQL text, hub
 * messages, JSON documents and scratch space all grow in it. It is meant
 * to be reused: dbs_buf_reset keeps the memory, so a buffer that reached
 * the size of the largest batch costs no allocation afterwards.
 *
 * Zero-initialise it (DBS_BUF_INIT); release it with dbs_buf_free. After
 * every successful append the bytes are followed by a NUL, so text can be
 * handed to C string functions (the NUL is not counted in len). A failed
 * call leaves the buffer as it was. Not thread-safe: a buffer belongs to
 * one thread at a time.
 */
#ifndef DBSTREAMS_SYS_BUF_H
#define DBSTREAMS_SYS_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "../dbstreams.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbs_buf {
	char *data; /* NULL until the first append or reserve */
	size_t len; /* bytes held, without the terminating NUL */
	size_t cap; /* bytes allocated */
} dbs_buf;

#define DBS_BUF_INIT {NULL, 0, 0}

/**
 * Make room for `extra` more bytes and the terminator. 0, or DBS_ENOMEM
 * when the size would overflow or the allocation fails.
 */
DBS_API int dbs_buf_reserve(dbs_buf *buf, size_t extra);

/** Append `len` bytes (any bytes, NUL included). 0 or DBS_ENOMEM. */
DBS_API int dbs_buf_append(dbs_buf *buf, const void *data, size_t len);

/** Append a NUL-terminated string. 0 or DBS_ENOMEM. */
DBS_API int dbs_buf_append_str(dbs_buf *buf, const char *str);

/** Append one byte. 0 or DBS_ENOMEM. */
DBS_API int dbs_buf_append_char(dbs_buf *buf, char c);

/**
 * printf-style append. 0, DBS_ENOMEM, or DBS_EINVAL when the format
 * fails.
 */
DBS_API int dbs_buf_appendf(dbs_buf *buf, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/** Forget the contents, keep the memory. */
DBS_API void dbs_buf_reset(dbs_buf *buf);

/** Release the memory; the buffer is empty and usable again. Accepts NULL. */
DBS_API void dbs_buf_free(dbs_buf *buf);

/**
 * Make room for `need` items of `item_size` bytes in the array `*items`
 * that has room for `*cap` (NULL and 0 at first), growing it by doubling
 * so that appending one at a time stays cheap. 0, or DBS_ENOMEM when the
 * size would overflow or the allocation fails (the array is left as it
 * was). Release the array with free().
 */
DBS_API int dbs_array_reserve(void **items, size_t *cap, size_t need, size_t item_size);

/**
 * snprintf that always terminates and never fails: the text is cut at
 * `size` instead. For the `err` buffers of plugin methods.
 */
DBS_API void dbs_fmt(char *buf, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;
DBS_API void dbs_vfmt(char *buf, size_t size, const char *fmt, va_list ap);

#ifdef __cplusplus
}
#endif

#endif
