/*
 * spi.c
 *		The one way supamon runs a statement it runs often: planned once per
 *		backend and kept; and the arrays that set-based statements take.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "collect.h"

#include "supamon.h"

int
SupamonRunKept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
			   Datum *values, const char *nulls, long count)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL)
			elog(ERROR, "supamon: could not prepare a statement: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return SPI_execute_plan(*plan, values, nulls, false, count);
}

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

