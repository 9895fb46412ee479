/*
 * spi.c
 *		The one way supamon runs its statements (SupamonStatement: planned
 *		once per backend and kept), and the arrays that set-based statements
 *		take.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "collect.h"

#include "supamon.h"

/*
 * Runs a statement, planned at its first run in this backend and the plan
 * kept for the backend's life: a check runs the same statements for every
 * project, every minute, and planning them again would cost more than
 * running them.
 */
uint64
SupamonRun(SupamonStatement *st, Datum *values, const char *nulls)
{
	int			rc;

	if (st->plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(st->sql, st->nargs, st->types);

		if (p == NULL)
			elog(ERROR, "supamon: could not prepare a statement (%s): %.80s",
				 SPI_result_code_string(SPI_result), st->sql);
		SPI_keepplan(p);
		st->plan = p;
	}
	rc = SPI_execute_plan(st->plan, values, nulls, false, 0);
	if (rc != st->expect)
		elog(ERROR, "supamon: a statement failed (%s): %.80s",
			 SPI_result_code_string(rc), st->sql);
	return SPI_processed;
}

/*
 * Runs a statement whose text is made at run time (it differs between
 * calls, or runs once): planned for this run only.
 */
uint64
SupamonRunText(const char *sql, bool read_only, int expect)
{
	int			rc = SPI_execute(sql, read_only, 0);

	if (rc != expect)
		elog(ERROR, "supamon: a statement failed (%s): %.80s",
			 SPI_result_code_string(rc), sql);
	return SPI_processed;
}

/* The strings as a text[]; NULL where nulls[i] or the string is NULL. */
Datum
SupamonTextArray(char **values, bool *nulls, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
		d[i] = (nulls && nulls[i]) || values[i] == NULL ? (Datum) 0 : CStringGetTextDatum(values[i]);
	{
		bool	   *nn = palloc(sizeof(bool) * Max(n, 1));

		for (int i = 0; i < n; i++)
			nn[i] = (nulls && nulls[i]) || values[i] == NULL;
		return PointerGetDatum(construct_md_array(d, nn, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	}
}

/* See supamon.h. */
TupleDesc
SupamonRowType(TupleDesc *kept, int ncolumns, const Oid *types)
{
	MemoryContext old;
	TupleDesc	desc;

	if (*kept)
		return *kept;
	old = MemoryContextSwitchTo(TopMemoryContext);
	desc = CreateTemplateTupleDesc(ncolumns);
	for (int i = 0; i < ncolumns; i++)
		TupleDescInitEntry(desc, (AttrNumber) (i + 1), NULL, types[i], -1, 0);
	/* (an anonymous record type of this backend, as SQL's ROW() makes) */
	*kept = BlessTupleDesc(desc);
	MemoryContextSwitchTo(old);
	return *kept;
}

/* See supamon.h. */
Datum
SupamonRecordArray(TupleDesc type, int n, SupamonRowFill fill, void *arg)
{
	HeapTuple  *tuples = palloc(sizeof(HeapTuple) * Max(n, 1));
	Datum	   *rows = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *values = palloc(sizeof(Datum) * type->natts);
	bool	   *nulls = palloc(sizeof(bool) * type->natts);
	int			dims[1] = {n};
	int			lbs[1] = {1};
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext row_cxt = AllocSetContextCreate(outer, "supamon row", ALLOCSET_SMALL_SIZES);
	ArrayType  *array;

	for (int k = 0; k < n; k++)
	{
		MemoryContextSwitchTo(row_cxt);
		memset(nulls, 0, sizeof(bool) * type->natts);
		fill(arg, k, values, nulls);
		MemoryContextSwitchTo(outer);
		tuples[k] = heap_form_tuple(type, values, nulls);
		rows[k] = HeapTupleGetDatum(tuples[k]);
		MemoryContextReset(row_cxt);
	}
	MemoryContextDelete(row_cxt);
	array = construct_md_array(rows, NULL, 1, dims, lbs, RECORDOID, -1, false, TYPALIGN_DOUBLE);
	/* (the array holds copies) */
	for (int k = 0; k < n; k++)
		heap_freetuple(tuples[k]);
	pfree(tuples);
	pfree(rows);
	return PointerGetDatum(array);
}

/* The integers as an int8[]; NULL where nulls[i] (nulls may be NULL). */
Datum
SupamonInt8Array(int64 *values, bool *nulls, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nn = palloc0(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		d[i] = Int64GetDatum(values[i]);
		nn[i] = nulls ? nulls[i] : false;
	}
	return PointerGetDatum(construct_md_array(d, nn, 1, dims, lbs, INT8OID, 8,
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* The booleans as a bool[]. */
Datum
SupamonBoolArray(bool *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
		d[i] = BoolGetDatum(values[i]);
	return PointerGetDatum(construct_md_array(d, NULL, 1, dims, lbs, BOOLOID, 1, true, TYPALIGN_CHAR));
}

/* The numbers as a float8[]; NULL where nulls[i]. */
Datum
SupamonFloat8Array(double *values, bool *nulls, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nn = palloc0(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		d[i] = Float8GetDatum(values[i]);
		nn[i] = nulls[i];
	}
	return PointerGetDatum(construct_md_array(d, nn, 1, dims, lbs, FLOAT8OID, 8,
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Times (microseconds since 1970, COLLECT_NO_TIME for NULL) as a
 * timestamptz[].
 */
Datum
SupamonTimeArray(int64 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nn = palloc0(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		nn[i] = values[i] == COLLECT_NO_TIME;
		d[i] = nn[i] ? (Datum) 0 : TimestampTzGetDatum(SupamonFromUnixMicros(values[i]));
	}
	return PointerGetDatum(construct_md_array(d, nn, 1, dims, lbs, TIMESTAMPTZOID, 8,
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

