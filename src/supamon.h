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
 * Runs fn(arg) in a subtransaction; NULL, or the error it raised (rolled
 * back), unless callers_own(sqlerrcode), which is thrown again.  subxact.c.
 */
extern ErrorData *SupamonSubtransaction(void (*fn) (void *arg), void *arg,
										bool (*callers_own) (int sqlerrcode));

/* Registers the background worker; only valid from _PG_init when preloaded. */
extern void SupamonRegisterWorker(void);

#endif							/* SUPAMON_H */
