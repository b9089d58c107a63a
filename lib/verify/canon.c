/*
 * Canonical text: every value read back from either engine printed one
 * way (docs/verify.md), and rows of such values in chunks, compared by
 * key or as whole rows and digested.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "sql/civil.h"
#include "verify/verify.h"

/* ------------------------------------------------------------------ */
/* Canonical text                                                      */
/* ------------------------------------------------------------------ */

int dbs__vcanon_of(const dbs_sqltype *st)
{
	const char *ty = st->type_name ? st->type_name : "";
	switch (st->cls) {
	case DBS_SQL_INT:
	case DBS_SQL_DECIMAL:
	case DBS_SQL_NUMERIC:
	case DBS_SQL_YEAR: return K_NUM;
	case DBS_SQL_FLOAT:
		if ((st->dialect == DBS_DIALECT_MYSQL && strncasecmp(ty, "float", 5) == 0) ||
		    (st->dialect == DBS_DIALECT_POSTGRESQL && strcmp(ty, "real") == 0))
			return K_FLOAT4;
		return K_FLOAT8;
	case DBS_SQL_BOOL: return K_BOOL;
	case DBS_SQL_TIME: return K_TIME;
	case DBS_SQL_DATETIME: return K_DATETIME;
	case DBS_SQL_TIMESTAMP: return K_TIMESTAMP;
	case DBS_SQL_STRING:
		if (st->dialect == DBS_DIALECT_POSTGRESQL &&
		    (strncmp(ty, "character(", 10) == 0 || strcmp(ty, "character") == 0 ||
		     strcmp(ty, "bpchar") == 0))
			return K_TEXT_RTRIM;
		return K_TEXT;
	case DBS_SQL_BINARY:
	case DBS_SQL_GEOMETRY: return K_BYTES;
	case DBS_SQL_BIT: return st->dialect == DBS_DIALECT_MYSQL && st->len <= 1 ? K_BOOL : K_BIT;
	case DBS_SQL_JSON:
	case DBS_SQL_ARRAY: return K_JSON;
	case DBS_SQL_UUID: return K_UUID;
	default: return K_TEXT;
	}
}

/* The select-list expression that reads column `col` of one side as text
 * the canonicaliser of kind `k` understands. */
int dbs__vcanon_expr(dbs_buf *b, dbs_dialect d, const vcol *col, int k)
{
	int rc;
	const dbs_sqltype *st = &col->st;
	if (d == DBS_DIALECT_POSTGRESQL) {
		if (st->cls == DBS_SQL_BINARY) {
			if (!(rc = dbs_buf_append_str(b, "encode(")) &&
			    !(rc = dbs__sql_append_ident_in(b, d, col->name)))
				rc = dbs_buf_append_str(b, ", 'hex')");
		} else if (st->cls == DBS_SQL_ARRAY) {
			if (!(rc = dbs_buf_append_str(b, "array_to_json(")) &&
			    !(rc = dbs__sql_append_ident_in(b, d, col->name)))
				rc = dbs_buf_append_str(b, ")::text");
		} else if (st->cls == DBS_SQL_INTERVAL && k == K_TIME) {
			/* A MySQL TIME kept as interval: its length in seconds. */
			if (!(rc = dbs_buf_append_str(b, "extract(epoch from ")) &&
			    !(rc = dbs__sql_append_ident_in(b, d, col->name)))
				rc = dbs_buf_append_str(b, ")::text");
		} else {
			rc = dbs__sql_append_ident_in(b, d, col->name);
		}
		return rc;
	}
	if (st->cls == DBS_SQL_GEOMETRY) {
		/* The WKB, which a PostgreSQL target keeps (its SRID dropped):
		 * docs/type-mapping.md. */
		if (!(rc = dbs_buf_append_str(b, "HEX(ST_AsBinary(")) &&
		    !(rc = dbs__sql_append_ident_in(b, d, col->name)))
			rc = dbs_buf_append_str(b, "))");
	} else if (st->cls == DBS_SQL_BINARY || (k == K_BYTES && st->cls != DBS_SQL_STRING)) {
		if (!(rc = dbs_buf_append_str(b, "HEX(")) &&
		    !(rc = dbs__sql_append_ident_in(b, d, col->name)))
			rc = dbs_buf_append_char(b, ')');
	} else if (st->cls == DBS_SQL_BIT && k == K_BIT) {
		if (!(rc = dbs_buf_append_str(b, "LPAD(BIN(")) &&
		    !(rc = dbs__sql_append_ident_in(b, d, col->name)))
			rc = dbs_buf_appendf(b, "), %d, '0')", st->len > 0 ? (int)st->len : 1);
	} else if (st->cls == DBS_SQL_BIT) {
		if (!(rc = dbs__sql_append_ident_in(b, d, col->name)))
			rc = dbs_buf_append_str(b, "+0");
	} else if (st->cls == DBS_SQL_FLOAT && k == K_FLOAT4) {
		/* MySQL prints FLOAT with 6 digits; as a double it is exact. */
		if (!(rc = dbs__sql_append_ident_in(b, d, col->name)))
			rc = dbs_buf_append_str(b, "+0e0");
	} else {
		rc = dbs__sql_append_ident_in(b, d, col->name);
	}
	return rc;
}

/* Exact decimal: sign, integer digits without leading zeros, fraction
 * without trailing zeros; "-0.00" is "0". Anything else stays as is. */
static int canon_num(dbs_buf *b, const char *s, size_t n)
{
	size_t i = 0, ib, ie, fb, fe;
	int neg = 0;
	while (i < n && s[i] == ' ')
		i++;
	while (n > i && s[n - 1] == ' ')
		n--;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	ib = i;
	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	ie = i;
	fb = fe = i;
	if (i < n && s[i] == '.') {
		fb = ++i;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		fe = i;
	}
	if (i != n || (ie == ib && fe == fb))
		return dbs_buf_append(b, s, n);
	while (ib < ie && s[ib] == '0')
		ib++;
	while (fe > fb && s[fe - 1] == '0')
		fe--;
	int rc = 0;
	if (neg && (ib < ie || fb < fe))
		rc = dbs_buf_append_char(b, '-');
	if (!rc)
		rc = ib < ie ? dbs_buf_append(b, s + ib, ie - ib)
		             : dbs_buf_append_char(b, '0');
	if (!rc && fb < fe && !(rc = dbs_buf_append_char(b, '.')))
		rc = dbs_buf_append(b, s + fb, fe - fb);
	return rc;
}

static int canon_float(dbs_buf *b, const char *s, size_t n, int four)
{
	char tmp[128];
	char *end = NULL;
	if (n == 0 || n >= sizeof tmp)
		return dbs_buf_append(b, s, n);
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	double d = strtod(tmp, &end);
	if (*end != '\0' || !isfinite(d))
		return dbs_buf_append(b, s, n);
	if (d == 0)
		d = 0; /* -0 prints as 0 */
	if (four)
		return dbs_buf_appendf(b, "%.9g", (double)(float)d);
	return dbs_buf_appendf(b, "%.17g", d);
}

static int canon_bool(dbs_buf *b, const char *s, size_t n)
{
	static const char *const yes[] = {"t", "true", "1", "y", "yes", "on"};
	static const char *const no[] = {"f", "false", "0", "n", "no", "off"};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0)
			return dbs_buf_append_char(b, '1');
		if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0)
			return dbs_buf_append_char(b, '0');
	}
	return dbs_buf_append(b, s, n);
}

/* Read `w` digits (exactly) at s[*i]. */
static int digits(const char *s, size_t n, size_t *i, int w, long *out)
{
	long v = 0;
	for (int k = 0; k < w; k++) {
		if (*i >= n || !isdigit((unsigned char)s[*i]))
			return -1;
		v = v * 10 + (s[(*i)++] - '0');
	}
	*out = v;
	return 0;
}

/* Fraction digits after '.', scaled to microseconds (extra digits cut). */
static void fraction(const char *s, size_t n, size_t *i, long *usec)
{
	long v = 0;
	int k = 0;
	*usec = 0;
	if (*i < n && s[*i] == '.') {
		(*i)++;
		while (*i < n && isdigit((unsigned char)s[*i])) {
			if (k < 6)
				v = v * 10 + (s[*i] - '0'), k++;
			(*i)++;
		}
		while (k++ < 6)
			v *= 10;
		*usec = v;
	}
}

/*
 * "YYYY-MM-DD[ T]HH:MM:SS[.f][zone]" to the canonical form. With
 * `instant`, a zone (Z, ±HH, ±HH:MM, ±HHMM, ±HH:MM:SS) is applied and the
 * result is UTC with a Z; a value without one is taken as UTC. Anything
 * else (infinity, BC, zero dates) stays as is.
 */
static int canon_datetime(dbs_buf *b, const char *s, size_t n, int instant)
{
	size_t i = 0;
	long y, mo, d, h, mi, se, us, oh = 0, om = 0, os = 0;
	int sign = 0;
	if (digits(s, n, &i, 4, &y) || i >= n || s[i++] != '-' || digits(s, n, &i, 2, &mo) ||
	    i >= n || s[i++] != '-' || digits(s, n, &i, 2, &d) || i >= n ||
	    (s[i] != ' ' && s[i] != 'T') || (++i, digits(s, n, &i, 2, &h)) || i >= n ||
	    s[i++] != ':' || digits(s, n, &i, 2, &mi) || i >= n || s[i++] != ':' ||
	    digits(s, n, &i, 2, &se))
		return dbs_buf_append(b, s, n);
	fraction(s, n, &i, &us);
	if (i < n && s[i] == 'Z') {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		sign = s[i++] == '-' ? -1 : 1;
		if (digits(s, n, &i, 2, &oh))
			return dbs_buf_append(b, s, n);
		if (i < n && s[i] == ':')
			i++;
		if (i < n && digits(s, n, &i, 2, &om))
			return dbs_buf_append(b, s, n);
		if (i < n && s[i] == ':')
			i++;
		if (i < n && digits(s, n, &i, 2, &os))
			return dbs_buf_append(b, s, n);
	}
	if (i != n || mo < 1 || mo > 12 || d < 1 || d > 31 || (sign && !instant))
		return dbs_buf_append(b, s, n);
	if (!instant)
		return dbs_buf_appendf(b, "%04ld-%02ld-%02ld %02ld:%02ld:%02ld.%06ld", y, mo,
		                            d, h, mi, se, us);
	dbs_civil c = {y, mo, d, h, mi, se};
	dbs__civil_add_seconds(&c, -(int64_t)sign * (oh * 3600 + om * 60 + os));
	return dbs_buf_appendf(b, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%06ldZ",
	                       (long long)c.year, (long long)c.month, (long long)c.day,
	                       (long long)c.hour, (long long)c.minute, (long long)c.second, us);
}

/* "[-]H:MM:SS[.f]" (MySQL TIME, PostgreSQL time) or "[-]seconds[.f]"
 * (an interval's epoch) to "[-]H:MM:SS.ffffff". */
static int canon_time(dbs_buf *b, const char *s, size_t n)
{
	size_t i = 0;
	int neg = 0;
	long long h = 0, total;
	long mi = 0, se = 0, us = 0;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	size_t start = i;
	while (i < n && isdigit((unsigned char)s[i]) && i - start < 12)
		h = h * 10 + (s[i++] - '0');
	if (i == start)
		return dbs_buf_append(b, s, n);
	if (i < n && s[i] == ':') {
		i++;
		if (digits(s, n, &i, 2, &mi) || i >= n || s[i++] != ':' || digits(s, n, &i, 2, &se))
			return dbs_buf_append(b, s, n);
		fraction(s, n, &i, &us);
		total = h * 3600 + mi * 60 + se;
	} else {
		fraction(s, n, &i, &us);
		total = h;
	}
	if (i != n)
		return dbs_buf_append(b, s, n);
	if (total == 0 && us == 0)
		neg = 0;
	return dbs_buf_appendf(b, "%s%lld:%02lld:%02lld.%06ld", neg ? "-" : "", total / 3600,
	                            total / 60 % 60, total % 60, us);
}

static int canon_lower(dbs_buf *b, const char *s, size_t n)
{
	int rc = dbs_buf_reserve(b, n);
	if (!rc) {
		for (size_t i = 0; i < n; i++)
			b->data[b->len + i] = (char)tolower((unsigned char)s[i]);
		b->len += n;
		b->data[b->len] = '\0';
	}
	return rc;
}

static int json_key_cmp(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

/* Sort every object's members by key, recursively (stable for equal keys). */
static int json_sort(cJSON *node)
{
	int rc = 0;
	for (cJSON *c = node->child; c && !rc; c = c->next)
		rc = json_sort(c);
	if (rc || !cJSON_IsObject(node) || !node->child)
		return rc;
	size_t n = 0;
	for (cJSON *c = node->child; c; c = c->next)
		n++;
	cJSON **v = malloc(n * sizeof *v);
	if (!v)
		return DBS_ENOMEM;
	n = 0;
	for (cJSON *c = node->child; c; c = c->next)
		v[n++] = c;
	/* Insertion sort keeps duplicates in order and objects are small. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && json_key_cmp(&v[j - 1], &v[j]) > 0; j--) {
			cJSON *t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		v[i]->prev = i ? v[i - 1] : v[n - 1]; /* cJSON: child->prev is the tail */
		v[i]->next = i + 1 < n ? v[i + 1] : NULL;
	}
	node->child = v[0];
	free(v);
	return 0;
}

static int canon_json(dbs_buf *b, const char *s, size_t n)
{
	int rc;
	cJSON *j = cJSON_ParseWithLength(s, n);
	char *p = NULL;
	if (!j)
		return dbs_buf_append(b, s, n);
	if ((rc = json_sort(j)))
		goto out;
	if (!(p = cJSON_PrintUnformatted(j))) {
		rc = DBS_ENOMEM;
		goto out;
	}
	rc = dbs_buf_append_str(b, p);
out:
	cJSON_free(p);
	cJSON_Delete(j);
	return rc;
}

static int canon_value(dbs_buf *b, int k, const char *s, size_t n)
{
	switch (k) {
	case K_TEXT_RTRIM:
		while (n > 0 && s[n - 1] == ' ')
			n--;
		return dbs_buf_append(b, s, n);
	case K_NUM: return canon_num(b, s, n);
	case K_FLOAT4:
	case K_FLOAT8: return canon_float(b, s, n, k == K_FLOAT4);
	case K_BOOL: return canon_bool(b, s, n);
	case K_DATETIME:
	case K_TIMESTAMP: return canon_datetime(b, s, n, k == K_TIMESTAMP);
	case K_TIME: return canon_time(b, s, n);
	case K_BYTES:
	case K_UUID: return canon_lower(b, s, n);
	case K_JSON: return canon_json(b, s, n);
	default: return dbs_buf_append(b, s, n);
	}
}

/* ------------------------------------------------------------------ */
/* Rows: length-prefixed canonical values, key columns first           */
/* ------------------------------------------------------------------ */

void dbs__vchunk_reset(vchunk *c)
{
	dbs_buf_reset(&c->buf);
	c->n = 0;
}

void dbs__vchunk_free(vchunk *c)
{
	dbs_buf_free(&c->buf);
	free(c->rows);
	memset(c, 0, sizeof *c);
}

/* Decode value `i` of an encoded row; returns 0 for NULL, 1 for a value. */
int dbs__vrow_value(const char *p, uint32_t len, uint32_t i, const char **v, uint32_t *vlen)
{
	uint32_t off = 0;
	for (;;) {
		uint32_t l;
		if (off + 5 > len)
			return *v = NULL, *vlen = 0, 0;
		memcpy(&l, p + off + 1, 4);
		if (i == 0) {
			*v = p + off + 5;
			*vlen = l;
			return p[off] != 0;
		}
		off += 5 + l;
		i--;
	}
}

/* Read every row of `r` into `c`, canonicalised; `nkey` leading columns
 * are the key (all of them when nkey == ncols). */
int dbs__vchunk_fill(vchunk *c, vres *r, const plan_col *plan, uint32_t ncols, uint32_t nkey)
{
	int rc = 0;
	while (!rc && dbs__vres_next(r)) {
		size_t start = c->buf.len, keyend = start;
		if (dbs_array_reserve((void **)&c->rows, &c->cap, c->n + 1,
		                      sizeof *c->rows))
			return DBS_ENOMEM;
		for (uint32_t j = 0; j < ncols && !rc; j++) {
			size_t len = 0, at = c->buf.len;
			const char *v = dbs__vres_get(r, j, &len);
			char hdr[5] = {v != NULL, 0, 0, 0, 0};
			if ((rc = dbs_buf_append(&c->buf, hdr, 5)))
				break;
			if (v && (rc = canon_value(&c->buf, plan[j].canon, v, len)))
				break;
			size_t vl = c->buf.len - at - 5;
			if (vl > UINT32_MAX)
				return DBS_ENOMEM;
			uint32_t l32 = (uint32_t)vl;
			memcpy(c->buf.data + at + 1, &l32, 4);
			if (j + 1 == nkey)
				keyend = c->buf.len;
		}
		if (rc)
			break;
		if (c->buf.len - start > UINT32_MAX)
			return DBS_ENOMEM;
		vrow *row = &c->rows[c->n++];
		row->off = start;
		row->len = (uint32_t)(c->buf.len - start);
		row->keylen = (uint32_t)(keyend - start);
	}
	/* The buffer no longer moves: point the rows into it. */
	for (size_t i = 0; i < c->n; i++)
		c->rows[i].p = c->buf.data + c->rows[i].off;
	return rc;
}

int dbs__vkey_cmp(const vrow *a, const vrow *b)
{
	uint32_t n = a->keylen < b->keylen ? a->keylen : b->keylen;
	int c = memcmp(a->p, b->p, n);
	return c ? c : (a->keylen > b->keylen) - (a->keylen < b->keylen);
}

int dbs__vrow_cmp_key(const void *x, const void *y)
{
	return dbs__vkey_cmp(x, y);
}

int dbs__vrow_cmp_full(const void *x, const void *y)
{
	const vrow *a = x, *b = y;
	uint32_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->p, b->p, n);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

void dbs__vchunk_sort(vchunk *c, int (*cmp)(const void *, const void *))
{
	if (c->n > 1)
		qsort(c->rows, c->n, sizeof *c->rows, cmp);
}

int dbs__vchunk_digest(EVP_MD_CTX *md, const vchunk *c, unsigned char out[EVP_MAX_MD_SIZE])
{
	unsigned int olen = 0;
	if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		return DBS_EINTERNAL;
	for (size_t i = 0; i < c->n; i++)
		if (!EVP_DigestUpdate(md, c->rows[i].p, c->rows[i].len))
			return DBS_EINTERNAL;
	return EVP_DigestFinal_ex(md, out, &olen) ? 0 : DBS_EINTERNAL;
}
