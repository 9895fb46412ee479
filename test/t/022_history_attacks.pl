# Attacks on 0.11.0's history that follows its job by trigger instead of by
# foreign key (sql/supamon--0.10.0--0.11.0.sql, at 8783014).
#
# One cluster, no pg_cron needed (the projects are this database's own hand
# made cron tables, read locally):
#	- an install at 0.9.0 with inventory and history, updated to 0.11.0:
#	  nothing lost, the same objects as a fresh install, and the history
#	  still follows a renamed project, a deleted job, a removed project
#	- checks after the update log a run once (ON CONFLICT still infers the
#	  one unique index)
#	- TRUNCATE ... CASCADE, which the foreign key carried to the history
#	- the trigger function and a role that may execute supamon's functions
#	- pg_dump and restore of a database with the extension; DROP EXTENSION
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SupamonTest;

my $node = PostgreSQL::Test::Cluster->new('central');
$node->init;
$node->start;

sub sq { my ($db, $sql) = @_; return $node->safe_psql($db, $sql); }

# What the extension's tables look like, object by object, for comparing
# two databases: indexes, constraints, triggers, reloptions.
my $shape_sql = q{
SELECT string_agg(x, E'\n' ORDER BY x) FROM (
  SELECT 'index ' || indexrelid::regclass || ': ' || pg_get_indexdef(indexrelid) FROM pg_index
   WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'supamon'::regnamespace)
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass || '.' || conname || ': ' || pg_get_constraintdef(oid)
   FROM pg_constraint WHERE connamespace = 'supamon'::regnamespace
  UNION ALL
  SELECT 'trigger ' || tgrelid::regclass || ': ' || pg_get_triggerdef(oid) FROM pg_trigger
   WHERE NOT tgisinternal AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'supamon'::regnamespace)
  UNION ALL
  SELECT 'options ' || oid::regclass || ': ' || array_to_string(reloptions, ',') FROM pg_class
   WHERE relnamespace = 'supamon'::regnamespace AND reloptions IS NOT NULL
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure || ' secdef=' || prosecdef || ' ' || coalesce(array_to_string(proconfig, ','), '')
   || ' acl=' || coalesce(proacl::text, 'default')
   FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
   WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'supamon')
) s(x)};

# --- the update path, with data ----------------------------------------
sq('postgres', 'CREATE DATABASE fresh');
sq('postgres', 'CREATE DATABASE old');
sq('fresh', 'CREATE EXTENSION supamon');
my $fresh_shape = sq('fresh', $shape_sql);
sq('old', cron_tables_sql() . q{
CREATE EXTENSION supamon VERSION '0.9.0';
INSERT INTO supamon.project (name) VALUES ('alpha'), ('beta');
INSERT INTO supamon.job_inventory (project_name, job_type, job_name)
	SELECT p, 'pg_cron', 'job' || g FROM unnest(ARRAY['alpha', 'beta']) p, generate_series(1, 3) g;
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status, run_id, last_run_at)
	SELECT project_name, job_type, job_name, 'success', r, now() - r * interval '1 minute'
	FROM supamon.job_inventory, generate_series(1, 4) r;
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status)
	SELECT project_name, job_type, job_name, 'failed' FROM supamon.job_inventory;
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status)
	SELECT project_name, job_type, job_name, 'failed' FROM supamon.job_inventory;
});
is(sq('old', 'SELECT count(*) FROM supamon.job_health_log'), '36', '0.9.0 holds 36 history rows');
sq('old', 'ALTER EXTENSION supamon UPDATE');
is(sq('old', "SELECT extversion FROM pg_extension WHERE extname = 'supamon'"), '0.11.0', 'updated to 0.11.0');
is(sq('old', 'SELECT count(*) FROM supamon.job_health_log'), '36', 'no history row lost');
is(sq('old', $shape_sql), $fresh_shape, 'the same indexes, constraints, triggers, options and functions as a fresh install');
like(sq('old', $shape_sql), qr/job_health_log_job_run_idx: CREATE UNIQUE INDEX/, 'the one unique index is there');
unlike(sq('old', $shape_sql), qr/FOREIGN KEY \(project_name, job_type, job_name\)/, 'no foreign key left on the history');

# the history follows: a project renamed, a job deleted, a project removed
sq('old', "UPDATE supamon.project SET name = 'gamma' WHERE name = 'alpha'");
is(sq('old', "SELECT string_agg(DISTINCT project_name, ',') FROM supamon.job_health_log"), 'beta,gamma',
	'a renamed project takes its history');
is(sq('old', "SELECT count(*) FROM supamon.job_health_log WHERE project_name = 'gamma'"), '18', 'all of it');
sq('old', "DELETE FROM supamon.job_inventory WHERE project_name = 'gamma' AND job_name = 'job1'");
is(sq('old', "SELECT count(*) FROM supamon.job_health_log WHERE project_name = 'gamma'"), '12',
	'a deleted job takes its own history, no more');
sq('old', "SELECT supamon_remove_project('gamma')");
is(sq('old', "SELECT count(*) FROM supamon.job_health_log WHERE project_name = 'gamma'"), '0',
	'a removed project takes its history');
is(sq('old', 'SELECT count(*) FROM supamon.job_health_log'), '18', "and only its own");

# checks after the update: the local project read twice, a run logged once
sq('old', q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 3 * * *', 'SELECT 1', 'local_job');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'failed', 'boom', now() - interval '2 minutes', now() - interval '119 seconds');
SELECT supamon_add_project('here');
UPDATE supamon.project SET enabled = false WHERE name <> 'here';
});
sq('old', 'SELECT supamon_check_health()');
sq('old', 'UPDATE supamon.project SET run_high_water = NULL');
sq('old', 'SELECT supamon_check_health()');
is(sq('old', "SELECT count(*) FROM supamon.job_health_log WHERE project_name = 'here' AND run_id IS NOT NULL"),
	'1', 'a run read twice is logged once after the update');
is(sq('old', "SELECT status FROM supamon.job_status WHERE project = 'here'"), 'failed', 'and decided');

# --- TRUNCATE ... CASCADE, which the foreign key carried to the history ---
sq('postgres', 'CREATE DATABASE wipe');
sq('wipe', q{
CREATE EXTENSION supamon;
INSERT INTO supamon.project (name) VALUES ('alpha');
INSERT INTO supamon.job_inventory (project_name, job_type, job_name) VALUES ('alpha', 'pg_cron', 'a');
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status) VALUES ('alpha', 'pg_cron', 'a', 'failed');
});
my ($rc, $out, $err) = $node->psql('wipe', 'TRUNCATE supamon.project CASCADE');
is($rc, 0, 'TRUNCATE supamon.project CASCADE runs');
is(sq('wipe', 'SELECT count(*) FROM supamon.job_inventory'), '0', 'the inventory is emptied');
is(sq('wipe', 'SELECT count(*) FROM supamon.job_health_log'), '0',
	'and so is the history (as the foreign key made it): no orphan left');

# --- the SECURITY DEFINER trigger function --------------------------------
sq('fresh', q{
CREATE ROLE watcher LOGIN IN ROLE pg_monitor;
CREATE ROLE ops LOGIN;
GRANT USAGE ON SCHEMA supamon TO ops;
GRANT CREATE ON SCHEMA public TO watcher, ops;
INSERT INTO supamon.project (name) VALUES ('alpha');
INSERT INTO supamon.job_inventory (project_name, job_type, job_name) VALUES ('alpha', 'pg_cron', 'a');
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status) VALUES ('alpha', 'pg_cron', 'a', 'failed');
});
my $attach = q{
CREATE TABLE public.mine_%s (project_name text, job_type text, job_name text);
CREATE TRIGGER t AFTER DELETE ON public.mine_%s FOR EACH ROW EXECUTE FUNCTION supamon.job_history_follows();
INSERT INTO public.mine_%s VALUES ('alpha', 'pg_cron', 'a');
DELETE FROM public.mine_%s;
};
($rc, $out, $err) = $node->psql('fresh', sprintf($attach, ('w') x 4), extra_params => [ '-U', 'watcher' ]);
like($err, qr/permission denied for function (supamon\.)?job_history_follows/, 'pg_monitor cannot attach the trigger function to a table of its own');
# A role let run supamon's functions (GRANT EXECUTE ON ALL FUNCTIONS IN
# SCHEMA is how many give a role the SQL interface) must not get the
# owner's rights over the history through it.
sq('fresh', 'GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA supamon TO ops');
($rc, $out, $err) = $node->psql('fresh', sprintf($attach, ('o') x 4), extra_params => [ '-U', 'ops' ]);
is(sq('fresh', 'SELECT count(*) FROM supamon.job_health_log'), '1',
	'a role with EXECUTE cannot delete the history through a table of its own');

# --- pg_dump and restore ----------------------------------------------------
my $dump = $node->basedir . '/old.sql';
command_ok([ 'pg_dump', '-d', $node->connstr('old'), '-f', $dump ], 'pg_dump of a database with 0.11.0');
sq('postgres', 'CREATE DATABASE restored');
command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
	'restores without an error');
is(sq('restored', 'SELECT count(*) FROM supamon.job_inventory'), sq('old', 'SELECT count(*) FROM supamon.job_inventory'),
	'the inventory comes back');
is(sq('restored', $shape_sql), $fresh_shape, 'with the objects of a fresh install');
sq('restored', q{
INSERT INTO supamon.job_health_log (project_name, job_type, job_name, status) VALUES ('beta', 'pg_cron', 'job2', 'failed');
UPDATE supamon.project SET name = 'delta' WHERE name = 'beta';
});
is(sq('restored', "SELECT string_agg(DISTINCT project_name, ',') FROM supamon.job_health_log"), 'delta',
	'the restored database renames the history with its project');

# --- DROP EXTENSION leaves nothing -----------------------------------------
for my $db (qw(old restored fresh wipe))
{
	sq($db, 'DROP TABLE IF EXISTS public.mine_w, public.mine_o');
	sq($db, 'DROP EXTENSION supamon');
	is(sq($db, q{
SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'supamon')
     + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'supamon%' OR proname = 'job_history_follows')
     + (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'job_history%')}), '0',
		"$db: DROP EXTENSION leaves no schema, function or trigger");
}

done_testing();
