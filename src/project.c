/*
 * project.c
 *		supamon_add_project() and supamon_remove_project().
 *
 * A connection string is checked when it is added (libpq parses it), and
 * any error about it is shown with its secrets masked.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "libpq-fe.h"
#include "remote.h"
#include "pool.h"
#include "supamon.h"

PG_FUNCTION_INFO_V1(supamon_add_project);
PG_FUNCTION_INFO_V1(supamon_remove_project);
PG_FUNCTION_INFO_V1(supamon_set_conninfo);

static bool
valid_name(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > 63 || !isalnum((unsigned char) name[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char) name[i]) && name[i] != '_' && name[i] != '.' && name[i] != '-')
			return false;
	return true;
}

static bool
valid_ref(const char *ref)
{
	size_t		len = strlen(ref);

	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((ref[i] >= 'a' && ref[i] <= 'z') || (ref[i] >= '0' && ref[i] <= '9')))
			return false;
	return true;
}

/*
 * Rejects a connection string libpq cannot parse, naming the problem with
 * every secret masked.
 */
static void
check_conninfo(const char *name, const char *conninfo)
{
	char	   *err = NULL;
	PQconninfoOption *opts;

	if (RemoteConninfoIsBlank(conninfo))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("empty connection string for project \"%s\"", name),
				 errhint("Use NULL for this very database; a project elsewhere needs a libpq connection string.")));
	opts = PQconninfoParse(conninfo, &err);
	if (opts == NULL)
	{
		char	   *detail = RemoteMaskSecrets(conninfo, err ? err : "out of memory");

		if (err)
			PQfreemem(err);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid connection string for project \"%s\"", name),
				 errdetail("%s", pchomp(detail)),
				 errhint("Use libpq's \"host=... port=... dbname=... user=... password=...\" or a postgresql:// URI.")));
	}
	{
		const char *problem = RemoteConninfoProblem(opts);

		PQconninfoFree(opts);
		if (problem)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid connection string for project \"%s\"", name),
					 errdetail("%s", problem)));
	}
}

static SupamonStatement insert_project = {
	.sql = "INSERT INTO supamon.project (name, conninfo, supabase_ref)"
		" VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
	.nargs = 3, .types = {TEXTOID, TEXTOID, TEXTOID},
	.expect = SPI_OK_INSERT
};

/*
 * Adds the project; every error is raised with its statement hidden from
 * the server log, since the statement's text holds the connection string.
 */
static void
add_project(FunctionCallInfo fcinfo)
{
	char	   *name;
	char	   *conninfo = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *ref = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	Datum		values[3];
	char		nulls[4] = "   ";

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a project needs a name")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!valid_name(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid project name \"%s\"", name),
				 errdetail("A project name is 1 to 63 letters, digits, \"_\", \".\" or \"-\", starting with a letter or digit.")));
	if (conninfo)
		check_conninfo(name, conninfo);
	if (ref && !valid_ref(ref))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Supabase project ref \"%s\"", ref),
				 errdetail("A project ref is the lowercase letters and digits in https://<ref>.supabase.co.")));

	SPI_connect();
	values[0] = CStringGetTextDatum(name);
	values[1] = conninfo ? CStringGetTextDatum(conninfo) : (Datum) 0;
	nulls[1] = conninfo ? ' ' : 'n';
	values[2] = ref ? CStringGetTextDatum(ref) : (Datum) 0;
	nulls[2] = ref ? ' ' : 'n';
	if (SupamonRun(&insert_project, values, nulls) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("project \"%s\" already exists", name),
				 errhint("Change its connection string with supamon_set_conninfo(), or remove it first with supamon_remove_project().")));
	SPI_finish();
}

/*
 * supamon_add_project(name text, conninfo text DEFAULT NULL,
 *					   supabase_ref text DEFAULT NULL) RETURNS void
 */
Datum
supamon_add_project(PG_FUNCTION_ARGS)
{
	SupamonHidingStatement(add_project, fcinfo);
	PG_RETURN_VOID();
}

static SupamonStatement update_conninfo = {
	.sql = "UPDATE supamon.project SET conninfo = $2, updated_at = now() WHERE name = $1",
	.nargs = 2, .types = {TEXTOID, TEXTOID},
	.expect = SPI_OK_UPDATE
};

/*
 * Changes a project's connection string after the checks of an add; the
 * next check connects with it from scratch (history is kept: it is the
 * same project).
 */
static void
set_conninfo(FunctionCallInfo fcinfo)
{
	char	   *name;
	char	   *conninfo = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	Datum		values[2];
	char		nulls[3] = "  ";

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a project name is required")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (conninfo)
		check_conninfo(name, conninfo);
	SPI_connect();
	values[0] = CStringGetTextDatum(name);
	values[1] = conninfo ? CStringGetTextDatum(conninfo) : (Datum) 0;
	nulls[1] = conninfo ? ' ' : 'n';
	if (SupamonRun(&update_conninfo, values, nulls) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" does not exist", name)));
	SPI_finish();
}

/*
 * supamon_set_conninfo(project text, conninfo text) RETURNS void
 */
Datum
supamon_set_conninfo(PG_FUNCTION_ARGS)
{
	SupamonHidingStatement(set_conninfo, fcinfo);
	PG_RETURN_VOID();
}

static SupamonStatement delete_project = {
	.sql = "DELETE FROM supamon.project WHERE name = $1",
	.nargs = 1, .types = {TEXTOID},
	.expect = SPI_OK_DELETE
};

/*
 * supamon_remove_project(name text) RETURNS void: the project, its inventory
 * and its history go.
 */
Datum
supamon_remove_project(PG_FUNCTION_ARGS)
{
	char	   *name;
	Datum		values[1];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a project name is required")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SPI_connect();
	values[0] = CStringGetTextDatum(name);
	if (SupamonRun(&delete_project, values, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" does not exist", name)));
	SPI_finish();
	/* closed now: a rollback costs the next check one new connection */
	PoolForgetProject(name);
	PG_RETURN_VOID();
}
