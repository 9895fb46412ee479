/*
 * spi.c
 *		The one way supamon runs a statement it runs often: planned once per
 *		backend and kept.
 */
#include "postgres.h"

#include "executor/spi.h"

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
