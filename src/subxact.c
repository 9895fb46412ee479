/*
 * subxact.c
 *		Running a piece of work in a subtransaction of its own, so that its
 *		error is a value the caller weighs rather than the end of the call.
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "supamon.h"

/*
 * Runs fn(arg) in a subtransaction: NULL when it succeeded (and was
 * committed into the caller's transaction).  On error the subtransaction is
 * rolled back and its error returned, copied into the caller's memory
 * context, unless callers_own(sqlerrcode) says the error belongs to the
 * caller (a cancel, say): that one is thrown again.  fn runs in the
 * caller's memory context.
 */
ErrorData *
SupamonSubtransaction(void (*fn) (void *arg), void *arg,
					  bool (*callers_own) (int sqlerrcode))
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (callers_own(edata->sqlerrcode))
			ReThrowError(edata);
	}
	PG_END_TRY();
	return edata;
}

/*
 * Runs f with any error it raises hidden from the server log's STATEMENT
 * line: for functions whose arguments are secrets (a connection string, a
 * webhook URL, a bot token).
 */
void
SupamonHidingStatement(void (*f) (FunctionCallInfo), FunctionCallInfo fcinfo)
{
	MemoryContext oldcontext = CurrentMemoryContext;

	PG_TRY();
	{
		f(fcinfo);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		edata->hide_stmt = true;
		ReThrowError(edata);
	}
	PG_END_TRY();
}
