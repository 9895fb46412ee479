/*
 * json_read.h
 *		Reading a few fields from what a service answers, with PostgreSQL's
 *		own JSON parser and never an ERROR for what the service sent.
 */
#ifndef SUPAMON_JSON_READ_H
#define SUPAMON_JSON_READ_H

#include "common/jsonapi.h"

/* Semantic callbacks return a status from PostgreSQL 16 on. */
#if PG_VERSION_NUM >= 160000
#define SEM_RETURN_TYPE JsonParseErrorType
#define SEM_RETURN return JSON_SUCCESS
#else
#define SEM_RETURN_TYPE void
#define SEM_RETURN return
#endif

/*
 * Parses body with sem; false when it is not UTF-8, nests deeper than
 * max_depth (PostgreSQL's parser recurses: 32,000 '[' would exhaust the
 * stack) or is not JSON.  Field names and strings reach the callbacks
 * de-escaped, as UTF-8 (NUL and lone surrogates as "?"), in any database
 * encoding.  Callers clean what they keep.
 */
extern bool SupamonJsonParse(const char *body, size_t len, int max_depth, JsonSemAction *sem);

#endif							/* SUPAMON_JSON_READ_H */
