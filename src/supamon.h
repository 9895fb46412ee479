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

/* Health settings (seconds, minutes) */
extern int	supamon_repeat_interval;
extern int	supamon_log_retention;

/* Registers the background worker; only valid from _PG_init when preloaded. */
extern void SupamonRegisterWorker(void);

#endif							/* SUPAMON_H */
