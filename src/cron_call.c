/*
 * cron_call.c
 *		Scheduling the check with a pg_cron that lives in another database.
 *
 * pg_cron runs in one database (cron.database_name) and its functions exist
 * only there; supamon may live in another.  A backend cannot switch
 * databases, so a short-lived background worker connects to pg_cron's
 * database as the calling role (its CONNECT privilege and pg_cron's own
 * checks apply), runs cron.schedule_in_database() or cron.unschedule(),
 * commits, and hands the answer back through a dynamic shared memory
 * segment.  Its commit is its own: a caller that rolls back afterwards
 * leaves the job scheduled (or removed).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "mb/pg_wchar.h"
#include "supamon.h"

PG_FUNCTION_INFO_V1(supamon_cron_call);
PGDLLEXPORT void supamon_cron_call_main(Datum main_arg);

#define CRON_CALL_TEXT 2048

typedef struct CronCall
{
	/* the question */
	char		cron_db[NAMEDATALEN];
	char		role[NAMEDATALEN];
	char		target_db[NAMEDATALEN];
	char		jobname[NAMEDATALEN];
	char		schedule[CRON_CALL_TEXT];
	char		command[CRON_CALL_TEXT];
	bool		unschedule;
	/* the answer */
	bool		answered;
	bool		ok;
	bool		found;			/* unschedule: there was a job */
	int64		jobid;
	char		error[CRON_CALL_TEXT];
} CronCall;

static void
copy_arg(char *dst, size_t len, text *t, const char *what)
{
	char	   *s = text_to_cstring(t);

	if (strlen(s) >= len)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("supamon: the %s is too long (at most %d bytes)", what, (int) len - 1)));
	strlcpy(dst, s, len);
}

/*
 * supamon.cron_call(cron_db text, jobname text, schedule text, command text,
 *					 target_db text, unschedule boolean) RETURNS bigint
 *
 * Schedules (or with unschedule, removes: 1 when a job was removed, 0 when
 * none) the job named jobname of the calling role in pg_cron's database.
 */
Datum
supamon_cron_call(PG_FUNCTION_ARGS)
{
	dsm_segment *seg;
	CronCall   *c;
	BackgroundWorker w;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	int64		result;

	/* schedule and command may be NULL only to unschedule */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(4) || PG_ARGISNULL(5) ||
		(!PG_GETARG_BOOL(5) && (PG_ARGISNULL(2) || PG_ARGISNULL(3))))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("supamon: supamon.cron_call needs every argument")));

	/* a standby's workers that write never start: the caller would wait for ever */
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("supamon: cannot schedule the check on a standby")));
	seg = dsm_create(sizeof(CronCall), 0);
	c = dsm_segment_address(seg);
	memset(c, 0, sizeof(CronCall));
	copy_arg(c->cron_db, sizeof(c->cron_db), PG_GETARG_TEXT_PP(0), "database name");
	copy_arg(c->jobname, sizeof(c->jobname), PG_GETARG_TEXT_PP(1), "job name");
	if (!PG_ARGISNULL(2))
		copy_arg(c->schedule, sizeof(c->schedule), PG_GETARG_TEXT_PP(2), "schedule");
	if (!PG_ARGISNULL(3))
		copy_arg(c->command, sizeof(c->command), PG_GETARG_TEXT_PP(3), "command");
	copy_arg(c->target_db, sizeof(c->target_db), PG_GETARG_TEXT_PP(4), "database name");
	c->unschedule = PG_GETARG_BOOL(5);
	strlcpy(c->role, GetUserNameFromId(GetUserId(), false), sizeof(c->role));

	SupamonWorkerStruct(&w, BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION,
						"supamon_cron_call_main", "supamon pg_cron call");
	snprintf(w.bgw_name, BGW_MAXLEN, "supamon pg_cron call in database %s", c->cron_db);
	w.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	w.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&w, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("supamon: could not start a background worker to reach database \"%s\"", c->cron_db),
				 errhint("Every slot of max_worker_processes is taken; try again, or raise it.")));

	/* a cancel here ends the worker too: nothing is left to answer to */
	PG_TRY();
	{
		status = WaitForBackgroundWorkerShutdown(handle);
	}
	PG_CATCH();
	{
		TerminateBackgroundWorker(handle);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (status == BGWH_POSTMASTER_DIED)
		ereport(FATAL,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("supamon: the postmaster died")));
	if (!c->answered)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("supamon: could not reach pg_cron in database \"%s\" as role \"%s\"",
						c->cron_db, c->role),
				 errhint("The server log says why (the role may lack CONNECT on that database, or LOGIN).")));
	if (!c->ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		/* written in that database's encoding: made valid in this one's */
				 errmsg("supamon: pg_cron in database \"%s\" refused: %s", c->cron_db,
						SupamonCleanText(c->error, 0))));
	result = c->unschedule ? (c->found ? 1 : 0) : c->jobid;
	dsm_detach(seg);
	PG_RETURN_INT64(result);
}

static SupamonStatement unschedule_job = {
	.sql = "SELECT cron.unschedule(jobid) FROM cron.job"
		" WHERE jobname = $1 AND username = current_user",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_SELECT
};

static SupamonStatement schedule_job = {
	.sql = "SELECT cron.schedule_in_database($1, $2, $3, $4)",
	.nargs = 4, .types = {TEXTOID, TEXTOID, TEXTOID, TEXTOID},
	.expect = SPI_OK_SELECT
};

/*
 * The worker: one call, one transaction, then gone.
 */
void
supamon_cron_call_main(Datum main_arg)
{
	dsm_segment *seg;
	CronCall   *c;
	MemoryContext cxt;

	/* a cancelled caller ends it with SIGTERM: handled at a safe point, not in the handler */
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "supamon pg_cron call");
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("supamon: the caller of a pg_cron call went away")));
	c = dsm_segment_address(seg);
	BackgroundWorkerInitializeConnection(c->cron_db, c->role, 0);
	/* every statement resolves to pg_catalog and pg_cron's own schema */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "supamon: pg_cron call");
	PG_TRY();
	{

		SPI_connect();
		if (c->unschedule)
		{
			Datum		values[1] = {CStringGetTextDatum(c->jobname)};

			c->found = SupamonRun(&unschedule_job, values, NULL) > 0;
		}
		else
		{
			Datum		values[4];
			bool		isnull;

			values[0] = CStringGetTextDatum(c->jobname);
			values[1] = CStringGetTextDatum(c->schedule);
			values[2] = CStringGetTextDatum(c->command);
			values[3] = CStringGetTextDatum(c->target_db);
			if (SupamonRun(&schedule_job, values, NULL) != 1)
				elog(ERROR, "cron.schedule_in_database returned no row");
			c->jobid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		c->ok = true;
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		{
			const char *m = e->message ? e->message : "an error";

			/* cut between characters (of this database's encoding) */
			int			n = pg_mbcliplen(m, strlen(m), sizeof(c->error) - 1);

			memcpy(c->error, m, n);
			c->error[n] = '\0';
		}
		AbortCurrentTransaction();
		c->ok = false;
	}
	PG_END_TRY();
	c->answered = true;
	pgstat_report_activity(STATE_IDLE, NULL);
	dsm_detach(seg);
	proc_exit(0);
}
