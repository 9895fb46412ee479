/*
 * edge_record.c
 *		Recording what the Management API said of a project: its Edge
 *		Functions in the inventory (what the user set is never touched, a
 *		function gone is marked removed), their traffic, and the project's
 *		state there.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "inventory.h"
#include "supamon.h"

/* A function the list names as REMOVED is gone, as one it omits. */
static bool
listed_as_present(const EdgeFunction *fn)
{
	return strcmp(fn->status, "REMOVED") != 0;
}

static SupamonStatement upsert_functions = {
	.sql = "INSERT INTO supamon.job_inventory AS j (project_name, job_type, job_name,"
		"  function_id, function_status, function_version, function_updated_at,"
		"  active, last_seen_at, requests, server_errors, client_errors, stats_at, stats_error,"
		"  criticality)"
		" SELECT $1, 'edge_function', f.slug, f.id, f.status,"
		"   f.version::int4, f.updated, true, now(),"
		"   CASE WHEN f.ok THEN f.req END, CASE WHEN f.ok THEN f.s5 END,"
		"   CASE WHEN f.ok THEN f.c4 END, CASE WHEN f.ok THEN now() END, f.err,"
		DEFAULT_CRITICALITY_SQL("f.slug")
		" FROM unnest($2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
		"   AS f(slug, id, status, version, updated, ok, req, s5, c4, err)"
		" ON CONFLICT (project_name, job_type, job_name) DO UPDATE SET"
		"   function_id = excluded.function_id,"
		"   function_status = excluded.function_status,"
		"   function_version = excluded.function_version,"
		"   function_updated_at = excluded.function_updated_at,"
		"   last_seen_at = now(),"
		"   removed_at = NULL,"
		"   updated_at = CASE WHEN j.removed_at IS NOT NULL"
		"     OR (j.function_id, j.function_status, j.function_version)"
		"        IS DISTINCT FROM (excluded.function_id, excluded.function_status, excluded.function_version)"
		"     THEN now() ELSE j.updated_at END,"
		"   requests = CASE WHEN excluded.stats_at IS NOT NULL THEN excluded.requests ELSE j.requests END,"
		"   server_errors = CASE WHEN excluded.stats_at IS NOT NULL THEN excluded.server_errors ELSE j.server_errors END,"
		"   client_errors = CASE WHEN excluded.stats_at IS NOT NULL THEN excluded.client_errors ELSE j.client_errors END,"
		"   stats_at = coalesce(excluded.stats_at, j.stats_at),"
		"   stats_error = excluded.stats_error",
	.nargs = 11, .types = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, INT8ARRAYOID,
	TIMESTAMPTZARRAYOID, BOOLARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID},
	.expect = SPI_OK_INSERT
};

static SupamonStatement update_removed_functions = {
	.sql = "UPDATE supamon.job_inventory SET removed_at = now(), updated_at = now(),"
		"  function_status = CASE WHEN function_status = 'ACTIVE' THEN NULL ELSE function_status END"
		" WHERE project_name = $1 AND job_type = 'edge_function' AND removed_at IS NULL"
		"   AND job_name <> ALL ($2)",
	.nargs = 2, .types = {TEXTOID, TEXTARRAYOID},
	.expect = SPI_OK_UPDATE
};

static void
record_functions(ProjectSnapshot *snap, Datum project)
{
	EdgeSnapshot *e = &snap->edge;
	int			n = 0;
	char	  **slugs = palloc(sizeof(char *) * Max(e->nfunctions, 1));
	char	  **ids = palloc(sizeof(char *) * Max(e->nfunctions, 1));
	char	  **statuses = palloc(sizeof(char *) * Max(e->nfunctions, 1));
	char	  **stats_errors = palloc(sizeof(char *) * Max(e->nfunctions, 1));
	int64	   *versions = palloc(sizeof(int64) * Max(e->nfunctions, 1));
	bool	   *no_version = palloc(sizeof(bool) * Max(e->nfunctions, 1));
	int64	   *updated = palloc(sizeof(int64) * Max(e->nfunctions, 1));
	bool	   *stats_ok = palloc(sizeof(bool) * Max(e->nfunctions, 1));
	int64	   *counts[3];
	Datum		values[11];

	for (int k = 0; k < 3; k++)
		counts[k] = palloc(sizeof(int64) * Max(e->nfunctions, 1));
	for (int i = 0; i < e->nfunctions; i++)
	{
		EdgeFunction *fn = &e->functions[i];

		if (!listed_as_present(fn))
			continue;
		slugs[n] = fn->slug;
		ids[n] = fn->id;
		statuses[n] = fn->status;
		versions[n] = fn->version;
		no_version[n] = fn->version < 0;
		updated[n] = fn->updated_at;
		stats_ok[n] = fn->stats_ok;
		counts[0][n] = fn->requests;
		counts[1][n] = fn->server_errors;
		counts[2][n] = fn->client_errors;
		stats_errors[n] = fn->stats_ok ? NULL : fn->stats_error;
		n++;
	}
	values[0] = project;
	values[1] = SupamonTextArray(slugs, NULL, n);
	values[2] = SupamonTextArray(ids, NULL, n);
	values[3] = SupamonTextArray(statuses, NULL, n);
	values[4] = SupamonInt8Array(versions, no_version, n);
	values[5] = SupamonTimeArray(updated, n);
	values[6] = SupamonBoolArray(stats_ok, n);
	values[7] = SupamonInt8Array(counts[0], NULL, n);
	values[8] = SupamonInt8Array(counts[1], NULL, n);
	values[9] = SupamonInt8Array(counts[2], NULL, n);
	values[10] = SupamonTextArray(stats_errors, NULL, n);

	/*
	 * What the user set (criticality, description, grace...) is not in the
	 * list: discovery never overwrites it.  Traffic that could not be read
	 * this time keeps the last figures read, with the reason beside them.
	 */
	SupamonRun(&upsert_functions, values, NULL);

	/* gone from the list: removed, not deleted */
	SupamonRun(&update_removed_functions, values, NULL);
}

static SupamonStatement update_edge_state = {
	.sql = "UPDATE supamon.project SET"
		" edge_checked_at = CASE WHEN $2 THEN now() ELSE edge_checked_at END,"
		" edge_error_since = CASE WHEN $3 IS NULL THEN NULL"
		"   ELSE coalesce(edge_error_since, now()) END,"
		" edge_error = $3,"
		" supabase_status = coalesce($4, supabase_status),"
		" api_blocked_until = CASE WHEN $5 THEN $6 ELSE NULL END"
		" WHERE name = $1",
	.nargs = 6, .types = {TEXTOID, BOOLOID, TEXTOID, TEXTOID, BOOLOID, TIMESTAMPTZOID},
	.expect = SPI_OK_UPDATE
};

void
InventoryRecordEdge(ProjectSnapshot *snap)
{
	EdgeSnapshot *e = &snap->edge;
	Datum		values[6];
	char		nulls[7] = "      ";
	Datum		project = CStringGetTextDatum(snap->project->name);
	char	   *error = e->error;

	if (!e->asked && !e->rate_limited)
		return;
	if (e->ok)
		record_functions(snap, project);
	/* a list that came whole, but some traffic did not: said, not failed */
	if (e->ok && e->stats_missing > 0 && error == NULL)
		error = psprintf("the traffic of %d Edge Function(s) could not be read: their last figures are kept",
						 e->stats_missing);
	if (e->ok && e->duplicates > 0)
		error = psprintf("%s%s%d Edge Function(s) listed twice under one slug: the newest version kept",
						 error ? error : "", error ? "; " : "", e->duplicates);

	values[0] = project;
	values[1] = BoolGetDatum(e->ok);
	values[2] = error ? CStringGetTextDatum(error) : (Datum) 0;
	nulls[2] = error ? ' ' : 'n';
	values[3] = e->project_status ? CStringGetTextDatum(e->project_status) : (Datum) 0;
	nulls[3] = e->project_status ? ' ' : 'n';
	values[4] = BoolGetDatum(e->rate_limited);
	values[5] = TimestampTzGetDatum(e->retry_at);
	nulls[5] = e->rate_limited ? ' ' : 'n';
	SupamonRun(&update_edge_state, values, nulls);
}
