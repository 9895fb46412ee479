/*
 * supamon.h
 *		Settings and entry points shared by the backend parts of supamon.
 */
#ifndef SUPAMON_H
#define SUPAMON_H

/* supamon.database: the database the background worker connects to. */
extern char *supamon_database;

/* Registers the background worker; only valid from _PG_init when preloaded. */
extern void SupamonRegisterWorker(void);

#endif							/* SUPAMON_H */
