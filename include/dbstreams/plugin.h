/*
 * dbstreams plugin interface: the event model and the source, hub and
 * target vtables.
 *
 * A plugin is a `static const` ops struct (version, name, then methods in
 * lifecycle order) registered by name in a dbs_registry. An instance embeds
 * a pointer to its ops as its first member so the core holds one pointer
 * type for every plugin of a kind.
 *
 * Threads: a stream runs its source on one thread and its target on
 * another. Source methods are called on the source thread except `ack`,
 * which is called on the target thread. Target methods are called on the
 * target thread. Hub methods are called from both, as each says.
 */
#ifndef DBSTREAMS_PLUGIN_H
#define DBSTREAMS_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbstreams.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Event model                                                         */
/* ------------------------------------------------------------------ */

/** The engine a column type is spelled in. */
typedef enum dbs_dialect {
	DBS_DIALECT_POSTGRESQL = 1,
	DBS_DIALECT_MYSQL = 2
} dbs_dialect;

/** Column flags. */
enum {
	DBS_COLUMN_KEY = 1u << 0,      /* part of the primary key */
	DBS_COLUMN_NOT_NULL = 1u << 1,
	DBS_COLUMN_UNSIGNED = 1u << 2  /* MySQL integer without sign */
};

typedef struct dbs_column {
	const char *name;
	/* The source's own spelling of the type, as its catalog formats it:
	 * "numeric(38,10)", "timestamp with time zone", "integer[]",
	 * "bigint unsigned", "enum('a','b')". */
	const char *type_name;
	uint32_t type_id;  /* PostgreSQL type OID, or MySQL field type code */
	int32_t type_mod;  /* PostgreSQL typmod (-1 none), or MySQL metadata */
	uint32_t flags;    /* DBS_COLUMN_* */
} dbs_column;

/**
 * A table as the source knows it at one moment. Immutable once published:
 * a schema change makes a new dbs_table. Reference-counted because batches
 * in flight keep the definition they were decoded with; only
 * dbs_table_new makes one (the count lives beside it).
 */
typedef struct dbs_table {
	const char *schema;  /* PostgreSQL schema, or MySQL database */
	const char *name;
	dbs_dialect dialect;
	uint32_t ncolumns;
	const dbs_column *columns;
	uint32_t source_id;  /* relation OID / table map id; informative */
	uint32_t version;    /* bumped on every redefinition of the same table */
	/* Secondary indexes (the primary key is in the columns' flags), for
	 * targets that create tables; filled by dbs_table_add_index. */
	uint32_t nindexes;
	const struct dbs_index *indexes;
} dbs_table;

/** Index flags. */
enum {
	DBS_INDEX_UNIQUE = 1u << 0,
	DBS_INDEX_FULLTEXT = 1u << 1 /* MySQL FULLTEXT: no PostgreSQL equivalent */
};

typedef struct dbs_index {
	const char *name;
	uint32_t flags;          /* DBS_INDEX_* */
	uint32_t ncolumns;
	const uint32_t *columns; /* positions in table->columns, in index order */
} dbs_index;

/** Kinds of values. A row image is an array aligned with table->columns. */
typedef enum dbs_value_kind {
	DBS_VALUE_NULL = 0,
	DBS_VALUE_UNCHANGED, /* PostgreSQL TOASTed value not sent: keep the target's */
	DBS_VALUE_TEXT,      /* the source engine's text form (PostgreSQL output, UTF-8) */
	DBS_VALUE_BYTES,     /* raw bytes (binary strings, BLOB, geometry WKB) */
	DBS_VALUE_INT,       /* v.i */
	DBS_VALUE_UINT,      /* v.u */
	DBS_VALUE_DOUBLE,    /* v.d */
	DBS_VALUE_DECIMAL,   /* exact decimal text in v.s ("-12.3400") */
	DBS_VALUE_JSON,      /* JSON text in v.s */
	DBS_VALUE_DATE,      /* v.t: year, month, day */
	DBS_VALUE_TIME,      /* v.t: negative, hour (may exceed 24), minute, second, usec */
	DBS_VALUE_DATETIME,  /* v.t: wall-clock date and time, no zone */
	DBS_VALUE_TIMESTAMP  /* v.t: UTC instant */
} dbs_value_kind;

typedef struct dbs_time_value {
	int32_t year;
	uint16_t hour;       /* TIME may exceed 24 h */
	uint8_t month, day, minute, second, negative;
	uint32_t usec;
} dbs_time_value;

typedef struct dbs_value {
	uint8_t kind;  /* dbs_value_kind */
	uint32_t len;  /* bytes of v.s for TEXT, BYTES, DECIMAL, JSON */
	union {
		int64_t i;
		uint64_t u;
		double d;
		const char *s; /* not NUL-terminated; lives in the batch's arena */
		dbs_time_value t;
	} v;
} dbs_value;

typedef enum dbs_op {
	DBS_OP_INSERT = 1,
	DBS_OP_UPDATE = 2,
	DBS_OP_DELETE = 3,
	/* A change to a table's definition (event->schema); no row images.
	 * Only version 7 targets are given one. A source puts it in a batch
	 * of its own, in its place in the commit order: a MySQL schema
	 * statement is a source transaction of its own (one event, txn_end
	 * set); PostgreSQL may change a table inside a transaction that also
	 * writes rows, and its position is then inside that transaction. */
	DBS_OP_SCHEMA = 4
} dbs_op;

/** What a schema change does (dbs_schema_change.kind). */
typedef enum dbs_schema_kind {
	/* event->table is the new table, indexes included. */
	DBS_SCHEMA_CREATE_TABLE = 1,
	/* event->table is the table as it was. Applied only when the target's
	 * schemaChanges option allows it. */
	DBS_SCHEMA_DROP_TABLE,
	DBS_SCHEMA_TRUNCATE_TABLE,
	/* from_schema.from_name becomes event->table's schema.name. */
	DBS_SCHEMA_RENAME_TABLE,
	/* Column `column` of event->table is new; default_kind/default_text
	 * say what the rows already there hold in it. */
	DBS_SCHEMA_ADD_COLUMN,
	/* The column from_name is gone. */
	DBS_SCHEMA_DROP_COLUMN,
	/* The column from_name is now column `column`, its values kept. */
	DBS_SCHEMA_RENAME_COLUMN,
	/* Column `column` has a new type or nullability (event->table holds
	 * it); `unsafe` says whether every value already there fits. */
	DBS_SCHEMA_ALTER_COLUMN,
	/* event->table->indexes[column] is new (a secondary index). */
	DBS_SCHEMA_ADD_INDEX,
	/* The secondary index from_name is gone. */
	DBS_SCHEMA_DROP_INDEX,
	/* The primary key is now the DBS_COLUMN_KEY columns of event->table;
	 * always unsafe (rows the old key told apart may collide). */
	DBS_SCHEMA_ALTER_KEY,
	/* A statement that changes the table in a way the source cannot
	 * describe; event->table is its definition afterwards when known.
	 * Always unsafe. */
	DBS_SCHEMA_OTHER
} dbs_schema_kind;

/** What the rows already in a table hold in an added column. */
typedef enum dbs_schema_default {
	DBS_DEFAULT_NONE = 0, /* no default: NULL (or the type's zero when NOT NULL) */
	DBS_DEFAULT_NULL,
	DBS_DEFAULT_LITERAL,  /* default_text: the value as text (unquoted) */
	DBS_DEFAULT_NOW,      /* the current timestamp at the change */
	DBS_DEFAULT_EXPR      /* default_text: an expression in the source's dialect */
} dbs_schema_default;

typedef struct dbs_schema_change {
	uint8_t kind;         /* dbs_schema_kind */
	/* Nonzero when applying it may change or reject a value already in
	 * the target (a narrowing type, NOT NULL added, a key change): the
	 * target applies nothing and the stream fails at the change unless
	 * the target table already has the definition (a user made it). */
	uint8_t unsafe;
	uint8_t default_kind; /* dbs_schema_default, ADD_COLUMN */
	uint32_t column;      /* a position in event->table (columns, or indexes) */
	const char *from_schema; /* RENAME_TABLE: the old schema */
	const char *from_name;   /* the old table, column or index name */
	const char *default_text;
} dbs_schema_change;

/** The changes of one statement, in the order the source applied them. */
typedef struct dbs_schema_event {
	const char *statement; /* the source's text, for messages; may be NULL */
	uint32_t nchanges;
	const dbs_schema_change *changes;
} dbs_schema_event;

/**
 * Where an event sits in the source's commit order. Positions compare by
 * (txn, event): a later transaction has a larger `txn`; except that two
 * positions carrying a GTID of the same domain compare by (gtid_seq,
 * event), because a GTID names a transaction on every server of a
 * replication topology while `txn` is one server's binlog offset.
 *
 * The gtid_* fields were appended in 0.x (the struct is embedded by value
 * in dbs_event: code built against the older, shorter struct must be
 * rebuilt). They are zero when the source has no GTID for the event
 * (PostgreSQL, MySQL flavor, MariaDB binlogs written before GTIDs).
 */
typedef struct dbs_position {
	uint64_t txn;    /* PostgreSQL commit LSN; MySQL (binlog file number << 32 | pos) */
	uint64_t resume; /* where the source resumes once this txn is applied
	                    (PostgreSQL: commit end LSN; MySQL: next event's pos) */
	uint32_t event;  /* 1-based index of the event inside its transaction */
	uint32_t txn_end;/* nonzero: the transaction ends with this event */
	/* MariaDB GTID of the event's transaction, domain-server-seq. */
	uint32_t gtid_domain;
	uint32_t gtid_server;
	uint64_t gtid_seq; /* 0: no GTID (MariaDB numbers from 1) */
} dbs_position;

/** -1, 0 or 1 as a is before, at, or after b. */
DBS_API int dbs_position_cmp(const dbs_position *a, const dbs_position *b);

typedef struct dbs_event {
	uint8_t op;              /* dbs_op */
	const dbs_table *table;  /* the batch holds a reference */
	/* Row images, table->ncolumns values each. `before` is NULL for
	 * inserts, and for updates whose source sent no old image (PostgreSQL
	 * with the key unchanged: the after image's key identifies the row);
	 * it may hold only key columns (others NULL) as the source provides.
	 * `after` is NULL for deletes. */
	dbs_value *before;
	dbs_value *after;
	int64_t commit_time_us;  /* Unix µs of the source commit */
	uint64_t xid;            /* source transaction id */
	dbs_position pos;
	/* DBS_OP_SCHEMA: what changed; its strings and arrays live in the
	 * batch's arena (dbs_batch_alloc). NULL for rows. */
	const dbs_schema_event *schema;
} dbs_event;

/**
 * A batch of events in commit order: the unit the hub carries and the
 * target applies in one transaction. All memory (events, values, strings)
 * belongs to the batch and is released by dbs_batch_free.
 */
typedef struct dbs_batch dbs_batch;

/** A new empty batch sized for `capacity` events (it grows if needed). */
DBS_API int dbs_batch_new(dbs_batch **out, uint32_t capacity);
DBS_API void dbs_batch_free(dbs_batch *batch);
/** Forget the events and release table references; keep the memory. */
DBS_API void dbs_batch_reset(dbs_batch *batch);

/**
 * Append an event for `table` (the batch takes a reference) and return it
 * zeroed except op, table and arrays of ncolumns NULL values for the images
 * the op needs (`before` for update/delete, `after` for insert/update).
 */
DBS_API int dbs_batch_add(dbs_batch *batch, dbs_op op, const dbs_table *table,
                          dbs_event **out);

/** Memory from the batch's arena, aligned for any value; freed with the batch. */
DBS_API void *dbs_batch_alloc(dbs_batch *batch, size_t size);

/** Copy `len` bytes into the arena and point `value` at them with `kind`. */
DBS_API int dbs_batch_set_bytes(dbs_batch *batch, dbs_value *value,
                                dbs_value_kind kind, const void *data, size_t len);

DBS_API uint32_t dbs_batch_count(const dbs_batch *batch);
DBS_API dbs_event *dbs_batch_event(const dbs_batch *batch, uint32_t index);
/** Position of the last event (zero when empty). */
DBS_API const dbs_position *dbs_batch_last(const dbs_batch *batch);
/** Drop the events from `count` on (used to stop at an event limit). */
DBS_API void dbs_batch_truncate(dbs_batch *batch, uint32_t count);
/** Approximate bytes of payload held (for stats). */
DBS_API uint64_t dbs_batch_bytes(const dbs_batch *batch);
/** Hub sequence number assigned by the hub on publish (0 = none). */
DBS_API uint64_t dbs_batch_seq(const dbs_batch *batch);
DBS_API void dbs_batch_set_seq(dbs_batch *batch, uint64_t seq);

/**
 * A new table with `ncolumns` columns; names and types are copied. The
 * caller holds one reference.
 */
DBS_API int dbs_table_new(dbs_table **out, dbs_dialect dialect, const char *schema,
                          const char *name, const dbs_column *columns, uint32_t ncolumns);
/**
 * Add a secondary index to a table that is not shared yet (the caller
 * holds the only reference). Name and columns are copied. DBS_EINVAL for
 * a column position out of range or a shared table.
 */
DBS_API int dbs_table_add_index(dbs_table *table, const char *name, uint32_t flags,
                                const uint32_t *columns, uint32_t ncolumns);
DBS_API const dbs_table *dbs_table_ref(const dbs_table *table);
DBS_API void dbs_table_unref(const dbs_table *table);

/* ------------------------------------------------------------------ */
/* Settings: the option rows a plugin contributes                      */
/* ------------------------------------------------------------------ */

/**
 * What a plugin understands of its section of the configuration, one row
 * per key. The core validates the keys a configuration gives against the
 * rows of the plugin its `type` names (type, range, choices, the rule of
 * `check`), applies the defaults, stores each value into the plugin's
 * settings struct at the row's offset, hides the values of SECRET rows
 * wherever the configuration is shown, and documents the rows in the
 * configuration reference. A key no row names is refused.
 */
typedef enum dbs_option_kind {
	DBS_OPTION_STRING = 1, /* const char * (NULL when absent without default) */
	DBS_OPTION_ENUM,       /* const char *, one of `choices` (default: `def`) */
	DBS_OPTION_BOOL,       /* int, 0 or 1 */
	DBS_OPTION_U32,        /* uint32_t, min..max */
	DBS_OPTION_U64,        /* uint64_t, min..max (JSON numbers: exact to 2^53) */
	DBS_OPTION_TABLES      /* an array of objects, one per table: `item` rows
	                          into items of item_size bytes, the array's pointer
	                          at `offset`, its uint32_t count at count_offset */
} dbs_option_kind;

/** Option row flags. */
enum {
	DBS_OPTION_REQUIRED = 1u << 0, /* the key must be given */
	DBS_OPTION_NONEMPTY = 1u << 1, /* a string must not be "" */
	DBS_OPTION_SECRET = 1u << 2,   /* a secret: shown as "********" */
	/* TABLES: each item starts with `const char *name`; two items may not
	 * name the same table (a bare name being in the plugin's
	 * default_schema). */
	DBS_OPTION_UNIQUE_NAMES = 1u << 3,
	/* A connection string or URL: shown with its password masked
	 * (user:********@host, password=********). */
	DBS_OPTION_CONNECTION = 1u << 4
};

/**
 * An extra rule for a STRING or ENUM value: 0 when it holds, else nonzero
 * with the message in `why` (the core prefixes the key's path). `shown`
 * is the value as a message may show it: masked like a connection
 * string, control characters replaced, cut to a readable length.
 */
typedef int (*dbs_option_check_fn)(const char *value, const char *shown, char *why,
                                   size_t whylen);

typedef struct dbs_option {
	/* The object of the plugin's section that holds the key ("settings",
	 * "options"), or NULL for the section itself (a hub's keys). */
	const char *object;
	const char *key;
	dbs_option_kind kind;
	unsigned flags;        /* DBS_OPTION_* */
	size_t offset;         /* of the value in the settings struct (or item) */
	const char *def;       /* STRING, ENUM: default; NULL: none */
	double def_num;        /* BOOL, U32, U64: default */
	double min, max;       /* U32, U64 */
	const char *const *choices; /* ENUM: NULL-terminated */
	const char *what;      /* ENUM: noun for "unknown <what> \"x\"" */
	dbs_option_check_fn check;
	/* TABLES */
	const struct dbs_option *item;
	uint32_t nitem;
	size_t item_size;
	size_t count_offset;
	const char *doc;       /* one line for the configuration reference */
} dbs_option;

/* ------------------------------------------------------------------ */
/* What plugins receive from the core                                  */
/* ------------------------------------------------------------------ */

/** One table entry of source.filter.tables. */
typedef struct dbs_table_filter {
	const char *name;      /* as written: "t", "schema.t" or "db.t" */
	unsigned operations;   /* bit (1 << dbs_op) for each allowed op */
} dbs_table_filter;

#define DBS_OPS_ALL ((1u << DBS_OP_INSERT) | (1u << DBS_OP_UPDATE) | (1u << DBS_OP_DELETE))

/**
 * The source section of a configuration, validated. Borrowed by plugins.
 * What only one engine understands is in `settings`: the plugin's own
 * struct, filled from the option rows it declares (dbs_source_ops.options).
 */
typedef struct dbs_source_config {
	const char *type;
	const char *mode;         /* "cdc" or "convert" */
	const char *connection;
	int initial_load;
	uint32_t data_bundle_size;/* events per batch, 10..1000, default 100 */
	uint32_t reporting_interval;
	const dbs_table_filter *tables;    /* empty: every table */
	uint32_t ntables;
	/* The plugin's settings struct (settings_size bytes), or NULL when it
	 * declares none. */
	const void *settings;
	/* Appended with the snapshot capability (read by version 4 sources):
	 * source.filter.tables[i].query, parallel to `tables` (NULL where a
	 * table has none), or NULL when none has one. Only mode "convert"
	 * ("load" is stored as "convert") takes queries. */
	const char *const *queries;
} dbs_source_config;

/** The target section; engine settings as for sources. */
typedef struct dbs_target_config {
	const char *type;
	const char *connection;
	uint32_t reporting_interval;
	/* The plugin's settings struct, or NULL when it declares none. */
	const void *settings;
	/* Set by the core, not by the configuration; read only by version 2
	 * targets. Nonzero: apply may keep a source transaction's database
	 * transaction open across batches (DBS_APPLY_OPEN) and commit it with
	 * the batch that ends it. The core sets it only where an applied but
	 * uncommitted batch can be read again from the source after a failure
	 * (source and target in one process). */
	int span_transactions;
	/* Set by the core, not by the configuration, only with
	 * span_transactions; read only by version 6 targets, and the core may
	 * change it between two calls of apply when nothing is open. Nonzero:
	 * apply may leave the database transaction open also after a batch
	 * that ends its source transaction (DBS_APPLY_OPEN), so that the
	 * source transactions waiting in the hub share one commit; the core
	 * then commits with flush, always after a batch that ends a source
	 * transaction (or when the stream stops), so a reader of the target
	 * still sees each source transaction whole or not at all. */
	int group_transactions;
} dbs_target_config;

/** Which side of a stream a hub instance serves (dbs_hub_config.part). */
typedef enum dbs_hub_part {
	DBS_HUB_PART_ALL = 0,    /* publisher and fetcher in one process */
	DBS_HUB_PART_SOURCE = 1, /* publisher only: publish, close_publish, acked */
	DBS_HUB_PART_TARGET = 2  /* fetcher only: fetch, ack */
} dbs_hub_part;

/** The hub section (or the server's default hub). */
typedef struct dbs_hub_config {
	const char *type;  /* "memory" (default), "nats", … */
	uint32_t capacity; /* batches in flight before the publisher waits */
	uint32_t partitions; /* writers sharing the stream: 1 (default) .. 64 */
	/* The plugin's settings struct (its keys sit in the hub section
	 * itself), or NULL when it declares none. */
	const void *settings;
	/* Set by the core, not by the configuration. The core asks a hub
	 * without `acked` for nothing but DBS_HUB_PART_ALL with one
	 * partition. */
	unsigned part;           /* dbs_hub_part */
	uint32_t partition;      /* with DBS_HUB_PART_TARGET: 0 .. partitions-1 */
} dbs_hub_config;

/**
 * Services the core gives a plugin instance, valid until its close. All
 * functions may be called from the thread the plugin method runs on.
 */
typedef struct dbs_host {
	unsigned version;
	const char *stream_id;
	/* Nonzero once the stream is stopping (user stop, limit, failure of
	 * the other side). Long-running loops poll it at least every 200 ms. */
	int (*stopping)(const struct dbs_host *host);
	/* Log one line; printf-style. */
	void (*log)(const struct dbs_host *host, dbs_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
		__attribute__((format(printf, 3, 4)))
#endif
		;
	void *core; /* private to the core */
	/* ---- version 2 ---- */
	/* Connection health for stat and metrics; callable from any thread.
	 * connection_lost: the plugin's connection to its server failed and
	 * is being retried; `message` (borrowed) says why. Called again for
	 * every failed attempt, which updates the message; the first call of
	 * an outage counts one reconnect. connection_restored: connected
	 * again. The core's retry helpers call both, so a plugin that
	 * reconnects through them reports for free. */
	void (*connection_lost)(const struct dbs_host *host, const char *message);
	void (*connection_restored)(const struct dbs_host *host);
	/* Sources: bytes of the change log between the newest server position
	 * the source knows of and what the target confirmed (see
	 * dbs_stat.source_lag_bytes). Cheap (one atomic store): call it when
	 * either end moves, not per event. Any thread. */
	void (*source_lag)(const struct dbs_host *host, uint64_t bytes);
	/* How long a lost connection is retried before the plugin gives up
	 * and fails, in ms (reconnect.giveUpAfter); 0 = never give up. */
	uint64_t reconnect_give_up_ms;
	/* Targets: `rows` more rejected rows were committed to the
	 * dead-letter table (target.options.deadLetterTable). Any thread. */
	void (*rows_dead_lettered)(const struct dbs_host *host, uint64_t rows);
	/* ---- version 3 ---- */
	/* What the plugin was registered with (dbs_registry_add_*_data);
	 * NULL otherwise. */
	void *plugin_data;
} dbs_host;

/* 2 appended connection_lost, connection_restored, source_lag,
 * reconnect_give_up_ms and rows_dead_lettered; 3 appended plugin_data.
 * Check host->version before using them. */
#define DBS_HOST_VERSION 3

/**
 * Error text buffer every open/run/apply call fills on failure. A plugin
 * writes the database's own message into it; the core shows it in stat.
 */
#define DBS_ERRMSG_MAX 1024

/* ------------------------------------------------------------------ */
/* Initial load: tables copied from a source into a target             */
/* ------------------------------------------------------------------ */

struct dbs_source;
struct dbs_target;

/**
 * A foreign key of a copied table, for a target that creates foreign
 * keys once the data is in.
 */
typedef struct dbs_foreign_key {
	const char *name;
	uint32_t ncolumns;
	const uint32_t *columns;         /* positions in the table's columns */
	const char *ref_schema;          /* the referenced table as the source names it */
	const char *ref_name;
	const char *const *ref_columns;  /* its columns, ncolumns names */
	/* "CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT" or "NO ACTION" */
	const char *on_delete, *on_update;
} dbs_foreign_key;

/**
 * One table an initial load copies, as the source describes it. The
 * source owns it (dbs_snapshot_ops.tables) until its snapshot closes.
 */
typedef struct dbs_load_table {
	const dbs_table *def;    /* columns with their key flags, secondary indexes */
	/* The chunk key: columns (positions in def->columns) holding integers
	 * in the source's own order, whose ranges split the table into chunks
	 * (the primary key). 0: the table is copied as one chunk (no primary
	 * key, or one that is not all integers). */
	uint32_t nkeys;
	const uint32_t *keys;
	uint64_t estimated_rows; /* the source's statistics; 0 unknown */
	/* source.filter.tables[].query, validated (a SELECT of this table
	 * alone), or NULL: every row. */
	const char *query;
	uint32_t nforeign;
	const dbs_foreign_key *foreign;
} dbs_load_table;

/**
 * A key range of one table: rows whose chunk key is above `lo` and at or
 * below `hi` (compared as tuples), `lo` NULL from the first row, `hi`
 * NULL to the last. Each bound holds one value per key column, of kind
 * DBS_VALUE_INT or DBS_VALUE_UINT. The chunks of a table cover its whole
 * key space.
 */
typedef struct dbs_load_chunk {
	uint32_t number;         /* 0-based, in key order */
	const dbs_value *lo, *hi;
} dbs_load_chunk;

/**
 * What a target keeps of a load, beside its checkpoint table, so that a
 * load interrupted (kill -9, a lost connection) continues from what is
 * committed. The core makes the records; a target stores them as given
 * and hands them back (dbs_load_ops.records). Keyed by (the stream,
 * `table`, `chunk`).
 */
typedef struct dbs_load_record {
	const char *table;    /* "schema.name" of the source table; "" the load itself */
	int64_t chunk;        /* >= 0: a chunk of the table; -1: the table's (or load's) row */
	const char *state;    /* chunk: "planned", "copied"; table: "prepared", "finished";
	                         load: "copying", "done" */
	const char *lo, *hi;  /* chunk bounds as text (comma-separated integers), NULL open */
	/* Chunk: every source transaction before this position (in the order
	 * of dbs_position.txn) is in its rows, none after; 0 when the load is
	 * not followed by a stream. Table: its row estimate. */
	uint64_t position;
	uint64_t rows;        /* rows written (a copied chunk, a finished table) */
} dbs_load_record;

typedef int (*dbs_load_record_fn)(const dbs_load_record *record, void *data);

/**
 * How a snapshot reader hands over the rows of a chunk: a batch of
 * INSERT events (after images only), the reader's, lent for the call (the
 * callee may drop rows from its end with dbs_batch_truncate). 0: go on;
 * 1: stop reading (the load stops or has enough rows): the reader returns
 * 0 and is not used again.
 */
typedef int (*dbs_rows_fn)(dbs_batch *rows, void *data);

/* What a load plugin method returns, besides 0 and a negative failure,
 * when its connection (not the data) failed: the core closes the reader
 * or writer, opens a new one and does the chunk again, with the
 * reconnect policy (dbs_host.reconnect_give_up_ms). err says why. */
#define DBS_LOAD_LOST 2

typedef struct dbs_snapshot {
	const struct dbs_snapshot_ops *ops;
} dbs_snapshot;

typedef struct dbs_snapshot_reader {
	const struct dbs_snapshot_ops *ops;
} dbs_snapshot_reader;

#define DBS_SNAPSHOT_OPS_VERSION 1

/**
 * A source's snapshot capability: the current rows of its tables, read in
 * chunks. Methods run on the stream's load threads; a reader is used by
 * one thread at a time, the snapshot by the thread that opened it except
 * for reader_open, which the core serialises.
 */
typedef struct dbs_snapshot_ops {
	unsigned version; /* DBS_SNAPSHOT_OPS_VERSION */
	/* Connect for a copy of the configuration's tables and check what a
	 * copy needs of the server and the user (the message names the
	 * setting or grant). `stream` is the source of the same plugin opened
	 * for this stream when the copy is followed by a stream (cdc with
	 * initialLoad): the positions of the copy are then positions of that
	 * stream. NULL for a copy alone (mode convert). */
	int (*open)(dbs_snapshot **out, const dbs_source_config *config, const dbs_host *host,
	            struct dbs_source *stream, char *err, size_t errlen);
	/* The tables to copy: those of source.filter.tables, or every table
	 * of the source database when it lists none; described, their
	 * queries validated, the user's SELECT checked. A table that does not
	 * exist, a query that is not a SELECT of its table or a missing grant
	 * fails, naming it. The array is the snapshot's until close. */
	int (*tables)(dbs_snapshot *snap, const dbs_load_table **out, uint32_t *n, char *err,
	              size_t errlen);
	/* Where to split `table` (nkeys > 0) into chunks of about `rows` rows:
	 * *n split points in key order, each nkeys values (INT or UINT), in
	 * an array the snapshot owns until the next call. *counted: the rows
	 * the plan saw (0 when it did not count). */
	int (*plan)(dbs_snapshot *snap, const dbs_load_table *table, uint64_t rows,
	            const dbs_value **points, uint32_t *n, uint64_t *counted, char *err,
	            size_t errlen);
	/* A reader: one session that reads in one consistent snapshot.
	 * *position: the position every chunk it reads is consistent with
	 * (see dbs_load_record.position); 0 for a copy alone. The core opens
	 * its readers one after the other before reading, and may open one
	 * again after DBS_LOAD_LOST. */
	int (*reader_open)(dbs_snapshot *snap, dbs_snapshot_reader **out, uint64_t *position,
	                   char *err, size_t errlen);
	/* The rows of `chunk` of `table` as INSERT events of table->def, in
	 * batches of at most `batch_rows`, streamed (memory does not grow with
	 * the chunk). 0 when every row was handed over or `rows` said stop;
	 * DBS_LOAD_LOST; negative with err filled. */
	int (*read)(dbs_snapshot_reader *reader, const dbs_load_table *table,
	            const dbs_load_chunk *chunk, uint32_t batch_rows, dbs_rows_fn rows,
	            void *rows_data, char *err, size_t errlen);
	void (*reader_close)(dbs_snapshot_reader *reader);
	/* After every reader closed. */
	void (*close)(dbs_snapshot *snap);
} dbs_snapshot_ops;

typedef struct dbs_load_writer {
	const struct dbs_load_ops *ops;
} dbs_load_writer;

/** dbs_load_ops.finish: what to create now that the data is in. */
enum {
	DBS_LOAD_INDEXES = 1u << 0,     /* the table's secondary indexes */
	DBS_LOAD_FOREIGN_KEYS = 1u << 1 /* its foreign keys (every table has its data) */
};

#define DBS_LOAD_OPS_VERSION 1

/**
 * A target's load capability: tables made and filled in bulk, chunk by
 * chunk, each chunk committed with its record. Methods other than the
 * writer's run on the thread that runs the load; each writer is used by
 * one thread at a time.
 */
typedef struct dbs_load_ops {
	unsigned version; /* DBS_LOAD_OPS_VERSION */
	/* This stream's records (dbs_host.stream_id), each handed to `fn`
	 * (borrowed for the call); none for a load not begun. */
	int (*records)(struct dbs_target *tgt, dbs_load_record_fn fn, void *data, char *err,
	               size_t errlen);
	/* Before anything is written: may `table` be loaded? An existing
	 * target table must hold every column, and be empty unless the
	 * target's options allow otherwise (the message names the table and
	 * the option). `resumed`: this stream prepared it in an earlier run
	 * (its rows are the load's own). */
	int (*check)(struct dbs_target *tgt, const dbs_load_table *table, int resumed, char *err,
	             size_t errlen);
	/* The table made ready for its rows: created with its primary key
	 * (no secondary index yet) unless the options say not to, emptied if
	 * they say so; then `records` (its own row and its planned chunks)
	 * stored, committed. */
	int (*prepare)(struct dbs_target *tgt, const dbs_load_table *table,
	               const dbs_load_record *records, uint32_t n, char *err, size_t errlen);
	/* A writer: a session of its own. */
	int (*writer_open)(struct dbs_target *tgt, dbs_load_writer **out, char *err, size_t errlen);
	/* A transaction for the rows of one chunk of `table`. */
	int (*chunk_begin)(dbs_load_writer *writer, const dbs_load_table *table, char *err,
	                   size_t errlen);
	/* Rows of the chunk (INSERT events of table->def), in bulk. */
	int (*chunk_rows)(dbs_load_writer *writer, const dbs_batch *rows, char *err,
	                  size_t errlen);
	/* Store `records` (the chunk's, copied) and commit with the rows:
	 * the chunk is in the target with its record, or neither is. */
	int (*chunk_commit)(dbs_load_writer *writer, const dbs_load_record *records, uint32_t n,
	                    char *err, size_t errlen);
	/* Roll back what is open and release the session. */
	void (*writer_close)(dbs_load_writer *writer);
	/* Create what `what` (DBS_LOAD_*) names for `table`, unless the
	 * options say not to; what exists already is kept. */
	int (*finish)(struct dbs_target *tgt, const dbs_load_table *table, unsigned what, char *err,
	              size_t errlen);
	/* Store `records` alone, committed. */
	int (*store)(struct dbs_target *tgt, const dbs_load_record *records, uint32_t n, char *err,
	             size_t errlen);
} dbs_load_ops;

/* ------------------------------------------------------------------ */
/* Source                                                              */
/* ------------------------------------------------------------------ */

/**
 * How a running source hands batches to the stream. Returns 0 when the
 * batch was taken (ownership passes to the core, even on error), 1 when the
 * stream wants no more events (stop or limit: the source returns from run),
 * negative on a hub failure. Blocks while the hub is full (back-pressure).
 */
typedef int (*dbs_emit_fn)(dbs_batch *batch, void *emit_data);

typedef struct dbs_source {
	const struct dbs_source_ops *ops;
} dbs_source;

/* 2 appended `start_point`; 3 the settings fields (options, noptions,
 * settings_size, default_schema): the configuration of an older source
 * takes no settings; 4 `snapshot`. Older sources stay accepted. */
#define DBS_SOURCE_OPS_VERSION 4

typedef struct dbs_source_ops {
	unsigned version; /* DBS_SOURCE_OPS_VERSION */
	const char *name; /* "postgresql", "mysql", … */
	/* Connect, check the server's settings, prepare capture (slot,
	 * publication) and start it from `resume` (NULL: where the slot / the
	 * current binlog end is). When open returns 0 every change committed
	 * from then on will be delivered. Required. */
	int (*open)(dbs_source **out, const dbs_source_config *config, const dbs_host *host,
	            const dbs_position *resume, char *err, size_t errlen);
	/* Read changes and call emit with batches of at most
	 * config->data_bundle_size events, in commit order, until emit returns
	 * 1 or host->stopping(); then return 0. A failure returns a negative
	 * code with err filled. Required. */
	int (*run)(dbs_source *src, dbs_emit_fn emit, void *emit_data, char *err, size_t errlen);
	/* Everything up to and including `pos` is committed at the target:
	 * the source may let the database forget it. Called on the target
	 * thread, concurrently with run. Required. */
	void (*ack)(dbs_source *src, const dbs_position *pos);
	/* Release everything; called once, after run returned (or instead of
	 * it when open succeeded but the stream did not start). Required. */
	void (*close)(dbs_source *src);
	/* ---- version 2: optional (NULL) ---- */
	/* After open: the position this source reads from, as `resume` for a
	 * later open that must deliver every change committed since this open
	 * returned (1, *pos and the dialect its text is spelled in); 0 when the
	 * database keeps that place itself (a PostgreSQL slot). The core
	 * records it before the stream reports READY, so a restart before
	 * anything was committed loses nothing. A source without it has only
	 * what the target commits to resume from. */
	int (*start_point)(dbs_source *src, dbs_position *pos, dbs_dialect *dialect);
	/* ---- version 3 ---- */
	/* The rows of source.settings (object "settings"), and the size of
	 * the struct config->settings points to; 0 rows: none. */
	const dbs_option *options;
	uint32_t noptions;
	size_t settings_size;
	/* The schema a bare table name of source.filter.tables is in
	 * ("public"), so that "t" and "public.t" are one table; NULL: names
	 * compare as written. */
	const char *default_schema;
	/* ---- version 4: optional (NULL) ---- */
	/* The current rows of the tables, for mode convert and initialLoad. */
	const dbs_snapshot_ops *snapshot;
} dbs_source_ops;

/* ------------------------------------------------------------------ */
/* Hub                                                                 */
/* ------------------------------------------------------------------ */

typedef struct dbs_hub {
	const struct dbs_hub_ops *ops;
} dbs_hub;

/* 2 appended `acked`; 3 `resume_point`; 4 `keep_resume_point`; 5 the
 * settings fields. Older plugins stay accepted (the core reads no slot
 * past the last one of their version; their sections take no settings). */
#define DBS_HUB_OPS_VERSION 5

typedef struct dbs_hub_ops {
	unsigned version;
	const char *name;
	/* Required. */
	int (*open)(dbs_hub **out, const dbs_hub_config *config, const dbs_host *host,
	            char *err, size_t errlen);
	/* Source thread. Takes ownership of `batch` in every case. Blocks
	 * while the hub is full, waking at least every 200 ms to check
	 * host->stopping() (then returns 1 and frees the batch). Required. */
	int (*publish)(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen);
	/* Source thread: nothing more will be published. Required. */
	void (*close_publish)(dbs_hub *hub);
	/* Target thread. Waits up to timeout_ms for the next batch: 0 and a
	 * batch (owned by the caller until it passes it back to ack), 1 on
	 * timeout, 2 when the publisher closed and everything was fetched,
	 * negative on failure. Required. */
	int (*fetch)(dbs_hub *hub, dbs_batch **out, int timeout_ms, char *err, size_t errlen);
	/* Target thread: `batch` is committed at the target. The hub forgets
	 * it and frees it. Required. */
	int (*ack)(dbs_hub *hub, dbs_batch *batch, char *err, size_t errlen);
	/* Required; after both sides are done. */
	void (*close)(dbs_hub *hub);
	/* ---- version 2: optional (NULL); a hub without it runs only part ALL ---- */
	/* Publisher side, any thread but the source's. The newest position
	 * up to which every batch published by this instance has been
	 * committed by the target(s), possibly in other processes: 1 and
	 * *pos when it moved since the last call, 0 when not, negative on
	 * failure. With part SOURCE the core calls it every 100 ms and hands
	 * the position to source->ack. */
	int (*acked)(dbs_hub *hub, dbs_position *pos, char *err, size_t errlen);
	/* ---- version 3: optional (NULL) ---- */
	/* Publisher side opened with part SOURCE, called once after open:
	 * the newest position `acked` reported in an earlier run of this
	 * stream id, kept by the hub, where the source resumes (1 and *pos);
	 * 0 when there is none; negative on failure. */
	int (*resume_point)(dbs_hub *hub, dbs_position *pos, char *err, size_t errlen);
	/* ---- version 4: optional (NULL) ---- */
	/* Publisher side opened with part SOURCE, when resume_point found
	 * none: keep `pos` (the source's start_point) as the resume point
	 * before anything is published, durably, so that a source part that
	 * dies before any acknowledgement resumes there. 0, or negative with
	 * err filled; the stream then does not start. */
	int (*keep_resume_point)(dbs_hub *hub, const dbs_position *pos, char *err, size_t errlen);
	/* ---- version 5 ---- */
	/* The rows of the hub section's own keys (object NULL) and the size
	 * of config->settings. */
	const dbs_option *options;
	uint32_t noptions;
	size_t settings_size;
} dbs_hub_ops;

/* ------------------------------------------------------------------ */
/* Target                                                              */
/* ------------------------------------------------------------------ */

typedef struct dbs_target {
	const struct dbs_target_ops *ops;
} dbs_target;

/* 2 appended `flush` and the apply results below; 3 `keep_checkpoint`; 4
 * the settings fields; 5 `load`; 6 reads
 * dbs_target_config.group_transactions and may return DBS_APPLY_REPLAY,
 * and its flush DBS_APPLY_LOST or DBS_APPLY_REPLAY; 7 is given
 * DBS_OP_SCHEMA events. Older targets stay accepted: a version 1 target
 * has every batch committed (it never sees span_transactions); their
 * sections take no settings; before version 6 every source transaction
 * is committed on its own; before version 7 a schema change fails the
 * stream at the change. */
#define DBS_TARGET_OPS_VERSION 7

/* What a version 2 apply returns besides 0 and a negative failure, only
 * when config->span_transactions is set. */
enum {
	/* Applied, and the batch does not end its source transaction: the
	 * database transaction (with this batch's checkpoint row) stays open
	 * for the next batch; nothing of it is committed yet. */
	DBS_APPLY_OPEN = 1,
	/* The connection was lost while a transaction carried earlier batches:
	 * they are gone with it (rolled back) and cannot be applied again from
	 * here. err says why. The core closes the target and resumes the whole
	 * stream from the committed checkpoint. */
	DBS_APPLY_LOST = 2,
	/* Version 6, with config->group_transactions: a row's values failed
	 * while the open transaction held other source transactions (or
	 * statements of earlier batches not yet sent): everything open was
	 * rolled back. The core resumes the stream from the committed
	 * checkpoint with group_transactions off up to this batch, so that
	 * the row fails (or goes to the dead-letter table) in its own source
	 * transaction, named as it would be without grouping. */
	DBS_APPLY_REPLAY = 3
};

typedef struct dbs_target_ops {
	unsigned version;
	const char *name;
	/* Connect, create the checkpoint table, and read this stream's
	 * checkpoint into *checkpoint (zeroed when none). Required. */
	int (*open)(dbs_target **out, const dbs_target_config *config, const dbs_host *host,
	            dbs_position *checkpoint, char *err, size_t errlen);
	/* Apply the batch's events after `checkpoint` (skip earlier ones) in
	 * one target transaction together with the checkpoint row for the
	 * batch's last position, creating missing tables first. Idempotent:
	 * applying the same batch again changes nothing. Returns 0 once
	 * committed. With config->span_transactions (version 2), a batch whose
	 * last event does not end its source transaction (pos.txn_end 0) is
	 * applied in the transaction still open from the earlier batches of
	 * that source transaction, or a new one, which stays open:
	 * DBS_APPLY_OPEN; the batch that ends it commits everything: 0. With
	 * config->group_transactions (version 6) that batch may leave it open
	 * too (DBS_APPLY_OPEN), for the core to commit with flush. A
	 * failure rolls back what is open. Required. */
	int (*apply)(dbs_target *tgt, const dbs_batch *batch, char *err, size_t errlen);
	/* Required. Rolls back what is open. */
	void (*close)(dbs_target *tgt);
	/* ---- version 2: optional (NULL: the core never sets span_transactions) ---- */
	/* Commit the open transaction, if any, with the checkpoint row of the
	 * last batch applied: the stream stops (user stop, time or event
	 * limit) inside a source transaction, and the target keeps exactly
	 * what was counted; a later run resumes inside that transaction. With
	 * config->group_transactions (version 6) also the commit of source
	 * transactions grouped by the core; a failure then rolls back and may
	 * return DBS_APPLY_LOST or DBS_APPLY_REPLAY as apply does. 0 when
	 * committed or nothing was open. */
	int (*flush)(dbs_target *tgt, char *err, size_t errlen);
	/* ---- version 3: optional (NULL) ---- */
	/* Called after open when the stream has no checkpoint yet: commit a
	 * checkpoint row at `pos` (the source's start_point, spelled in
	 * `dialect`) with no data, so that a restart before the first batch
	 * is committed resumes the source there. 0, or negative with err
	 * filled; the stream then does not start. */
	int (*keep_checkpoint)(dbs_target *tgt, const dbs_position *pos, dbs_dialect dialect,
	                       char *err, size_t errlen);
	/* ---- version 4 ---- */
	/* The rows of target.settings and target.options (by `object`), and
	 * the size of config->settings; the schema of a bare table name (see
	 * dbs_source_ops.default_schema). */
	const dbs_option *options;
	uint32_t noptions;
	size_t settings_size;
	const char *default_schema;
	/* ---- version 5: optional (NULL) ---- */
	/* Tables filled in bulk, for mode convert and initialLoad. */
	const dbs_load_ops *load;
} dbs_target_ops;

/* ------------------------------------------------------------------ */
/* Registry                                                            */
/* ------------------------------------------------------------------ */

typedef struct dbs_registry dbs_registry;

/** A registry holding the built-in plugins (with_builtins != 0) or none. */
DBS_API int dbs_registry_new(dbs_registry **out, int with_builtins);
DBS_API void dbs_registry_free(dbs_registry *registry);

/**
 * Register a plugin (borrowed: the ops must outlive the registry).
 * DBS_EEXISTS for a name already taken, DBS_EINVAL for an unknown version,
 * an empty name, a missing required method or malformed option rows.
 */
DBS_API int dbs_registry_add_source(dbs_registry *registry, const dbs_source_ops *ops);
DBS_API int dbs_registry_add_hub(dbs_registry *registry, const dbs_hub_ops *ops);
DBS_API int dbs_registry_add_target(dbs_registry *registry, const dbs_target_ops *ops);

/**
 * The same, with `plugin_data` (borrowed) that every instance of the
 * plugin finds in its host (dbs_host.plugin_data): a program registers
 * one plugin per resource it owns, each with its own data.
 */
DBS_API int dbs_registry_add_source_data(dbs_registry *registry, const dbs_source_ops *ops,
                                         void *plugin_data);
DBS_API int dbs_registry_add_hub_data(dbs_registry *registry, const dbs_hub_ops *ops,
                                      void *plugin_data);
DBS_API int dbs_registry_add_target_data(dbs_registry *registry, const dbs_target_ops *ops,
                                         void *plugin_data);

DBS_API const dbs_source_ops *dbs_registry_source(const dbs_registry *registry, const char *name);
DBS_API const dbs_hub_ops *dbs_registry_hub(const dbs_registry *registry, const char *name);
DBS_API const dbs_target_ops *dbs_registry_target(const dbs_registry *registry, const char *name);

#ifdef __cplusplus
}
#endif

#endif
