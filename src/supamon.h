/*
 * supamon.h
 *		Settings and entry points shared by the backend parts of supamon.
 */
#ifndef SUPAMON_H
#define SUPAMON_H

/* supamon.database: the database the background worker connects to. */
extern char *supamon_database;

/* Collector settings (milliseconds, connections) */
extern int	supamon_connect_timeout;
extern int	supamon_query_timeout;
extern int	supamon_max_connections;
extern int	supamon_max_answer_size;	/* kilobytes */

/* Health settings (seconds, minutes) */
extern int	supamon_repeat_interval;
extern int	supamon_log_retention;

/* Alert settings (secrets, URL, milliseconds, seconds, counts) */
extern char *supamon_discord_webhook_url;
extern char *supamon_telegram_bot_token;
extern char *supamon_telegram_chat_id;
extern char *supamon_telegram_api_url;
extern int	supamon_http_timeout;
extern int	supamon_max_attempts;
extern int	supamon_retry_backoff;
extern int	supamon_digest_after;
extern int	supamon_max_sends;

/* Edge Function settings (secret, URL, ratio, count, index into the intervals) */
extern char *supamon_supabase_access_token;
extern char *supamon_management_api_url;
extern double supamon_edge_error_rate;
extern int	supamon_edge_min_requests;
extern int	supamon_edge_stats_interval;

/* Watching the watcher (seconds, secret URL, schedule) */
extern int	supamon_stale_after;
extern char *supamon_heartbeat_url;
extern char *supamon_summary_schedule;

/* What follows a text that supamon cut. */
#define SUPAMON_CUT_MARK "... [cut]"

/*
 * Text from outside made safe to store: valid in the database encoding
 * (invalid bytes become '?'), at most maxchars characters (0: no limit),
 * cut on a character boundary and marked.  textclean.c.
 */
extern char *SupamonCleanTextLen(const char *s, size_t len, int maxchars, bool *cut);
extern char *SupamonCleanText(const char *s, int maxchars);

/*
 * The same, after every secret in it became "***" (redacted before it is
 * cut, so that a secret is seen whole); NULL for NULL.  textclean.c.
 */
extern char *SupamonRedacted(const char *raw, int maxchars);

/*
 * Runs fn(arg) in a subtransaction; NULL, or the error it raised (rolled
 * back), unless callers_own(sqlerrcode), which is thrown again.  subxact.c.
 */
extern ErrorData *SupamonSubtransaction(void (*fn) (void *arg), void *arg,
										bool (*callers_own) (int sqlerrcode));

/*
 * A statement supamon runs (spi.c): its text, its parameters' types and the
 * SPI result it must have, declared once where it is used, e.g.
 *
 *	static SupamonStatement read_status = {
 *		"SELECT status FROM supamon.project WHERE name = $1",
 *		1, {TEXTOID}, SPI_OK_SELECT};
 *
 * SupamonRun plans it at its first run in a backend and keeps the plan for
 * the backend's life; values are its parameters, nulls SPI's ('n' for a
 * NULL, ' ' otherwise; NULL when none is).  It returns SPI_processed; the
 * rows are in SPI_tuptable until SPI_freetuptable or SPI_finish.  A result
 * other than the one expected is an ERROR.  SPI must be connected.
 */
#define SUPAMON_MAX_PARAMS 24
struct _SPI_plan;
typedef struct SupamonStatement
{
	const char *sql;
	int			nargs;
	Oid			types[SUPAMON_MAX_PARAMS];
	int			expect;
	struct _SPI_plan *plan;		/* NULL until its first run */
} SupamonStatement;

extern uint64 SupamonRun(SupamonStatement *st, Datum *values, const char *nulls);

/*
 * The same for a statement whose text is made at run time (the local
 * project's reads, a utility command): planned for that run only, with
 * SPI_execute's read_only.
 */
extern uint64 SupamonRunText(const char *sql, bool read_only, int expect);

/*
 * Arrays for statements that work on whole sets (unnest): NULL entries where
 * nulls[i] (or a NULL string); times are Unix microseconds, PG_INT64_MIN for
 * NULL.  spi.c.
 */
extern Datum SupamonTextArray(char **values, bool *nulls, int n);
extern Datum SupamonInt8Array(int64 *values, bool *nulls, int n);
extern Datum SupamonBoolArray(bool *values, int n);
extern Datum SupamonFloat8Array(double *values, bool *nulls, int n);
extern Datum SupamonTimeArray(int64 *values, int n);

/*
 * Many rows as one record[] parameter, read back in SQL with
 * "unnest($n) AS u(column type, ...)" (the columns of SupamonRowType, in its
 * order): one function scan for all, where unnest($2, $3, ...) of an array
 * per column materializes each column apart.  SupamonRowType gives the rows'
 * type, made at its first call in a backend and kept in *kept (types[i] the
 * i-th column's);
 * SupamonRecordArray makes the parameter of n rows, fill(arg, k, values,
 * nulls) giving row k's columns: what fill allocates is freed once its row
 * is made, so that a big project holds its rows once, not their parts too.
 * spi.c.
 */
struct TupleDescData;
typedef void (*SupamonRowFill) (void *arg, int k, Datum *values, bool *nulls);
extern struct TupleDescData *SupamonRowType(struct TupleDescData **kept, int ncolumns,
											const Oid *types);
extern Datum SupamonRecordArray(struct TupleDescData *type, int n, SupamonRowFill fill, void *arg);

/* Runs f hiding the statement of any error it raises from the log.  subxact.c. */
struct FunctionCallInfoBaseData;
extern void SupamonHidingStatement(void (*f) (struct FunctionCallInfoBaseData *),
								   struct FunctionCallInfoBaseData *fcinfo);

/* Registers the background worker; only valid from _PG_init when preloaded. */
extern void SupamonRegisterWorker(void);

/* Seconds before the postmaster restarts a worker that crashed. */
#define SUPAMON_RESTART_SECONDS 10

/* Fills a BackgroundWorker of supamon's library (worker.c). */
struct BackgroundWorker;
extern void SupamonWorkerStruct(struct BackgroundWorker *w, int flags, const char *function,
								const char *type);

/*
 * The worker's shared state (worker.c): asked for while preloading.  Whether
 * a worker delivers this database's alerts (preloaded, and this is
 * supamon.database); and the wake-up of that worker when a transaction that
 * queued alerts commits.
 */
extern void SupamonRequestShmem(void);
extern bool SupamonWorkerDelivers(void);
extern void SupamonWakeWorkerAtCommit(void);

#endif							/* SUPAMON_H */
