# The collector: supamon_audit() reads every project's pg_cron over libpq,
# concurrently and incrementally, with timeouts, and records what it finds.
#
# Clusters: "central" (supamon, and pg_cron for its own jobs: the local
# project), "proj_a" (real pg_cron running real jobs, one failing),
# "proj_c" (a plain database whose cron schema the test writes, so that run
# history can be shaped at will).  Plus a refused port and a listener that
# accepts and never answers.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time sleep);
use lib 'test/perl';
use SupamonTest;

my $central = PostgreSQL::Test::Cluster->new('central');
$central->init(extra => ['--encoding=UTF8', '--locale=C']);
$central->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,supamon'
cron.database_name = 'postgres'
cron.host = '} . $central->host . qq{'
supamon.connect_timeout = 2000
supamon.query_timeout = 3000
});
$central->start;

my $a = PostgreSQL::Test::Cluster->new('proj_a');
$a->init;
$a->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.host = '} . $a->host . qq{'
});
$a->start;

my $c = PostgreSQL::Test::Cluster->new('proj_c');
$c->init;
$c->start;

# Real jobs start running at the next minute; the rest of the test runs
# meanwhile, and the real runs are checked at the end.
$a->safe_psql('postgres', q{
CREATE EXTENSION pg_cron;
SELECT cron.schedule('a-ok', '* * * * *', 'SELECT 1');
SELECT cron.schedule('a-fails', '* * * * *', 'SELECT 1/0');
});
$central->safe_psql('postgres', q{
CREATE EXTENSION pg_cron;
SELECT cron.schedule('thordata-heartbeat', '* * * * *', 'SELECT 1');
CREATE EXTENSION supamon;
});

# proj_c: pg_cron's tables, written by hand.
$c->safe_psql('postgres', cron_tables_sql() . q{
INSERT INTO cron.job (schedule, command, jobname) VALUES
	('0 3 * * *', 'SELECT 1', 'c-nightly'),
	('0 * * * *', 'VACUUM', 'c-hourly'),
	('*/5 * * * *', 'SELECT 3', NULL);
-- 50 runs of c-hourly, the last finished one failed; one still running
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT 2, CASE WHEN i % 2 = 0 THEN 'failed' ELSE 'succeeded' END,
	CASE WHEN i % 2 = 0 THEN 'ERROR:  deadlock detected' ELSE 'VACUUM' END,
	now() - (51 - i) * interval '1 hour', now() - (51 - i) * interval '1 hour' + interval '5 seconds'
FROM generate_series(1, 50) i;
INSERT INTO cron.job_run_details (jobid, status, start_time) VALUES (2, 'running', now() - interval '3 minutes');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT 1, 'succeeded', '1 row', now() - i * interval '1 day', now() - i * interval '1 day' + interval '1 second'
FROM generate_series(1, 3) i;
CREATE DATABASE nocron;
CREATE ROLE nocron_user LOGIN;
});

# A refused port and a hung listener.
my $refused_port = PostgreSQL::Test::Cluster::get_free_port();
my $portfile = "$PostgreSQL::Test::Utils::tmp_check/hung.port";
my $hung = IPC::Run::start([ $^X, 'test/hung_listener.pl', $portfile, 300 ]);
for (1 .. 100) { last if -s $portfile; sleep 0.1; }
chomp(my $hung_port = slurp_file($portfile));


$central->safe_psql('postgres', qq{
SELECT supamon_add_project('a', '@{[project_connstr($a, 'postgres')]}');
SELECT supamon_add_project('c', '@{[project_connstr($c, 'postgres')]}');
SELECT supamon_add_project('thordata');
SELECT supamon_add_project('refused', 'host=127.0.0.1 port=$refused_port dbname=postgres');
SELECT supamon_add_project('hung', 'host=127.0.0.1 port=$hung_port dbname=postgres');
SELECT supamon_add_project('nocron', '@{[project_connstr($c, 'nocron')]}');
SELECT supamon_add_project('denied', '@{[project_connstr($c, 'postgres', 'nocron_user')]}');
});

sub audit
{
	my ($only) = @_;
	my $arg = defined $only ? "'$only'" : '';
	my %r;
	for my $line (split /\n/, $central->safe_psql('postgres',
			"SELECT project, reachable, jobs, new_jobs, removed_jobs, runs_read, error FROM supamon_audit($arg)"))
	{
		my @f = split /\|/, $line, -1;
		$r{ $f[0] } = { reachable => $f[1], jobs => $f[2], new_jobs => $f[3],
			removed_jobs => $f[4], runs_read => $f[5], error => $f[6] };
	}
	return \%r;
}

# --- first contact: everyone at once, failures recorded with their reason
my $t0 = time;
my $r = audit();
my $took = time - $t0;
cmp_ok($took, '<', 5, sprintf('the whole fleet took %.1f s: the hung project costs its 2 s connect timeout, once', $took));
is($r->{$_}{reachable}, 't', "$_ is reachable") for qw(a c thordata);
is($r->{a}{jobs}, 2, 'a: two jobs');
is($r->{c}{jobs}, 3, 'c: three jobs');
is($r->{c}{runs_read}, 3, 'c: first contact reads only the latest finished run of each job and the run in progress');
is($r->{refused}{reachable}, 'f', 'refused: unreachable');
like($r->{refused}{error}, qr/refused/i, 'refused: the reason says so');
like($r->{hung}{error}, qr/timed out connecting after 2000 ms/, 'hung: timed out connecting');
like($r->{nocron}{error}, qr/cron\.job_run_details" does not exist/, 'nocron: no cron schema');
like($r->{denied}{error}, qr/permission denied for schema cron/, 'denied: no permission');
is($central->safe_psql('postgres',
		"SELECT string_agg(name || ':' || reachable || ':' || (last_error IS NOT NULL), ',' ORDER BY name) FROM supamon.project"),
	'a:true:false,c:true:false,denied:false:true,hung:false:true,nocron:false:true,refused:false:true,thordata:true:false',
	'each project row records whether it was reached and why not');

is($central->safe_psql('postgres', q{
	SELECT string_agg(job_name || '|' || job_id || '|' || schedule || '|' || coalesce(last_run_status, '-')
		|| '|' || (running_since IS NOT NULL), ',' ORDER BY job_id)
	FROM supamon.job_inventory WHERE project_name = 'c'}),
	'c-nightly|1|0 3 * * *|succeeded|false,c-hourly|2|0 * * * *|failed|true,job 3|3|*/5 * * * *|-|false',
	'the inventory: names (an unnamed job by its id), schedules, latest runs, the run in progress');
is($central->safe_psql('postgres', "SELECT expected_interval_minutes FROM supamon.job_inventory WHERE job_name = 'c-hourly'"),
	'60.00', 'the expected interval comes from the schedule');
is($central->safe_psql('postgres', "SELECT run_high_water FROM supamon.project WHERE name = 'c'"),
	$c->safe_psql('postgres', 'SELECT max(runid) FROM cron.job_run_details'), 'the high-water mark is the highest runid');

# --- incremental: only new runs, and the run that was in progress
$c->safe_psql('postgres', q{
UPDATE cron.job_run_details SET status = 'succeeded', return_message = 'VACUUM', end_time = now() WHERE status = 'running';
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT 1, 'succeeded', '1 row', now() - i * interval '1 minute', now() FROM generate_series(1, 3) i;
});
my $logged_before = $central->safe_psql('postgres', "SELECT count(*) FROM supamon.job_health_log WHERE project_name = 'c'");
$r = audit('c');
is($r->{c}{runs_read}, 4, 'a second audit transfers the 3 new runs and the one that was running, nothing else');
is($central->safe_psql('postgres', "SELECT count(*) FROM supamon.job_health_log WHERE project_name = 'c'") - $logged_before,
	4, 'each is logged once');
is($central->safe_psql('postgres', "SELECT last_run_status || ' ' || (running_since IS NULL) FROM supamon.job_inventory WHERE job_name = 'c-hourly'"),
	'succeeded true', 'the finished run replaced the failed one as the latest');
$r = audit('c');
is($r->{c}{runs_read}, 0, 'nothing new: nothing read');

# --- a run left unfinished (a crash) behind a later finished run is dead:
# it keeps neither the job "running" nor a place among the runs to re-read
$c->safe_psql('postgres', q{
INSERT INTO cron.job_run_details (jobid, status, start_time) VALUES (1, 'running', now() - interval '2 hours');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', now() - interval '1 minute', now());
});
audit('c');
is($central->safe_psql('postgres', q{
	SELECT (running_since IS NULL) || ' ' || (SELECT open_run_ids = '{}' FROM supamon.project WHERE name = 'c')
	FROM supamon.job_inventory WHERE job_name = 'c-nightly'}),
	'true true', 'a dead unfinished run is not a run in progress');
$c->safe_psql('postgres', "INSERT INTO cron.job_run_details (jobid, status, start_time) VALUES (1, 'running', now())");
audit('c');
is($central->safe_psql('postgres', q{
	SELECT (running_since IS NOT NULL) || ' ' || (SELECT cardinality(open_run_ids) FROM supamon.project WHERE name = 'c')
	FROM supamon.job_inventory WHERE job_name = 'c-nightly'}),
	'true 1', 'a live one is');
$c->safe_psql('postgres', "UPDATE cron.job_run_details SET status = 'succeeded', end_time = now() WHERE status = 'running'");
audit('c');

# --- re-discovery updates what the project owns, never what the user set
$central->safe_psql('postgres', q{
UPDATE supamon.job_inventory SET criticality = 'critical', description = 'nightly billing',
	grace = '10 minutes', success_criteria = 'at least one row'
WHERE job_name = 'c-nightly'});
$c->safe_psql('postgres', "UPDATE cron.job SET command = 'SELECT 2', schedule = '0 4 * * *' WHERE jobname = 'c-nightly'");
audit('c');
is($central->safe_psql('postgres', q{
	SELECT concat_ws('|', schedule, command, criticality, description, grace, success_criteria)
	FROM supamon.job_inventory WHERE job_name = 'c-nightly'}),
	'0 4 * * *|SELECT 2|critical|nightly billing|00:10:00|at least one row',
	'schedule and command follow the project; criticality, description, grace, success criteria stay');

# --- a job gone is marked removed, not deleted; back, it is unmarked
$c->safe_psql('postgres', "DELETE FROM cron.job WHERE jobname = 'c-hourly'");
$r = audit('c');
is($r->{c}{removed_jobs}, 1, 'one job removed');
is($central->safe_psql('postgres', q{
	SELECT (removed_at IS NOT NULL) || ' ' || (SELECT count(*) > 0 FROM supamon.job_health_log l WHERE l.job_name = i.job_name)
	FROM supamon.job_inventory i WHERE job_name = 'c-hourly'}),
	'true true', 'its row and its history are kept, marked removed');
$c->safe_psql('postgres', "INSERT INTO cron.job (jobid, schedule, command, jobname) VALUES (2, '0 * * * *', 'VACUUM', 'c-hourly')");
$r = audit('c');
is($r->{c}{new_jobs} . ' ' . $central->safe_psql('postgres', "SELECT removed_at IS NULL FROM supamon.job_inventory WHERE job_name = 'c-hourly'"),
	'0 t', 'back in the project, the same row is no longer removed');

# --- runids going backwards (history truncated): read from scratch
$c->safe_psql('postgres', q{
TRUNCATE cron.job_run_details RESTART IDENTITY;
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'failed', 'ERROR:  relation "billing" does not exist', now(), now());
});
$r = audit('c');
is($r->{c}{runs_read}, 1, 'after a truncation the history is read again from scratch');
is($central->safe_psql('postgres', "SELECT run_high_water || ' ' || (history_bootstrapped_at > now() - interval '1 minute') FROM supamon.project WHERE name = 'c'"),
	'1 true', 'the high-water mark starts over');

# --- a slow project is cut off by its query timeout; the others are fine
$c->safe_psql('postgres', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT j.* FROM cron.job_t j, pg_sleep(5);
});
$t0 = time;
$r = audit();
$took = time - $t0;
like($r->{c}{error}, qr/statement timeout/, 'slow: cut off by the 3 s query timeout');
is($r->{a}{reachable}, 't', 'and the others are still collected');
cmp_ok($took, '<', 6, sprintf('the audit took %.1f s, the slowest timeout, not the sum', $took));
$c->safe_psql('postgres', 'DROP VIEW cron.job; ALTER TABLE cron.job_t RENAME TO job;');

# --- never more than supamon.max_connections at a time: four projects
# whose cron.job answers after 2 s take two rounds with a limit of 2
for my $i (1 .. 4)
{
	$c->safe_psql('postgres', "CREATE DATABASE slow$i");
	$c->safe_psql("slow$i", cron_tables_sql() . q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT j.* FROM cron.job_t j, pg_sleep(2);
});
	$central->safe_psql('postgres',
		"SELECT supamon_add_project('slow$i', '" . project_connstr($c, "slow$i") . "')");
}
$central->safe_psql('postgres', "UPDATE supamon.project SET enabled = name LIKE 'slow%'");
for my $limit (2, 4)
{
	$t0 = time;
	$central->safe_psql('postgres', "SET supamon.max_connections = $limit; SELECT count(*) FROM supamon_audit()");
	my $t = time - $t0;
	if ($limit == 2)
	{
		cmp_ok($t, '>=', 4, sprintf('with supamon.max_connections = 2, four 2 s projects take two rounds (%.1f s)', $t));
	}
	else
	{
		cmp_ok($t, '<', 4, sprintf('with 4, one round (%.1f s)', $t));
	}
}
$central->safe_psql('postgres', "UPDATE supamon.project SET enabled = true WHERE name NOT LIKE 'slow%'");
$central->safe_psql('postgres', "UPDATE supamon.project SET enabled = false WHERE name LIKE 'slow%'");

# --- bytes that are not UTF-8, and a 1 MB error, from a SQL_ASCII project
$c->safe_psql('postgres', "CREATE DATABASE garbage ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
$c->safe_psql('garbage', cron_tables_sql() . q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('* * * * *', E'SELECT \\xff', E'bad-\\xfe-name');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'failed', E'ERROR:  \\xff\\xfe ' || repeat('x', 1000000), now(), now());
});
$central->safe_psql('postgres', "SELECT supamon_add_project('garbage', '@{[project_connstr($c, 'garbage')]}')");
$r = audit('garbage');
is($r->{garbage}{reachable}, 't', 'a project sending invalid bytes and a 1 MB error is read');
is($central->safe_psql('postgres', q{
	SELECT job_name || ' ' || (length(last_run_message) = 2000 + length('... [cut]')) || ' '
		|| (left(last_run_message, 10) = 'ERROR:  ??') || ' ' || (right(last_run_message, 9) = '... [cut]')
	FROM supamon.job_inventory WHERE project_name = 'garbage'}),
	'bad-?-name true true true', 'invalid bytes become "?", the error is kept to 2,000 characters and says it was cut');

# --- cancel and statement_timeout interrupt an audit promptly
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $central->connstr('postgres'), '-c',
		  "SET supamon.connect_timeout = '60s'; SELECT * FROM supamon_audit('hung')" ],
		'>', \$out, '2>', \$err);
	ok($central->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%supamon_audit(''hung'')%' AND pid <> pg_backend_pid()"),
		'an audit of the hung project is waiting');
	sleep 0.5;
	my $t = time;
	$central->safe_psql('postgres',
		"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%supamon_audit(''hung'')%' AND pid <> pg_backend_pid()");
	$h->finish;
	my $after = time - $t;
	like($err, qr/canceling statement due to user request/, "pg_cancel_backend cancels it") or diag("out: $out");
	cmp_ok($after, '<', 2, sprintf('within %.2f s', $after));
}
{
	$t0 = time;
	my ($ret, $out, $err) = $central->psql('postgres',
		"SET statement_timeout = '1s'; SET supamon.connect_timeout = '60s'; SELECT * FROM supamon_audit('hung')");
	$took = time - $t0;
	like($err, qr/canceling statement due to statement timeout/, "statement_timeout ends it") or diag("out: $out");
	cmp_ok($took, '<', 3, sprintf('after %.1f s', $took));
}

# --- 1,000 audits of failing projects leak no connection and no descriptor
{
	# only the failing ones, all in each audit
	$central->safe_psql('postgres',
		"UPDATE supamon.project SET enabled = name IN ('refused', 'nocron', 'denied')");
	# The backend's descriptors that are not relation files (the server
	# keeps those open on purpose): sockets, epoll sets, pipes.
	my $session = $central->background_psql('postgres');
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	my $datadir = $central->data_dir;
	my $others = sub {
		my @fds = grep { my $t = readlink("/proc/$pid/fd/$_") // ''; $t !~ m{^\Q$datadir\E} }
		  map { m{/(\d+)$} ? $1 : () } glob("/proc/$pid/fd/*");
		return scalar @fds;
	};
	$session->query_safe('DO $$ BEGIN FOR i IN 1..10 LOOP PERFORM supamon_audit(); END LOOP; END $$');
	my $before = $others->();
	# healthy projects' connections are kept open by the collector between
	# checks; the failing ones' are not, and nothing accumulates
	my $open_q = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'supamon'";
	my $open_before = $c->safe_psql('postgres', $open_q);
	$session->query_safe('DO $$ BEGIN FOR i IN 1..1000 LOOP PERFORM supamon_audit(); END LOOP; END $$');
	my $after = $others->();
	$session->quit;
	is($after, $before, "descriptors (other than relation files) of the auditing backend: $before before, $after after 1,000 audits of 3 failing projects");
	is($c->safe_psql('postgres', $open_q), $open_before,
		"no supamon session accumulates at the project ($open_before kept open before and after)");
	like($central->safe_psql('postgres', "SELECT last_error FROM supamon.project WHERE name = 'denied'"),
		qr/permission denied/, 'and each failure is still recorded');
	$central->safe_psql('postgres', "UPDATE supamon.project SET enabled = true");
}

# --- real pg_cron: the runs of real jobs, failing and not, and thordata's own
ok($a->poll_query_until('postgres',
		"SELECT count(DISTINCT jobid) = 2 FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')"),
	'proj_a ran both jobs');
ok($central->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM cron.job_run_details WHERE status = 'succeeded'"),
	'thordata ran its own job');
$r = audit();
# by this audit or an earlier one (pg_cron's first minute may come early in the test)
cmp_ok($central->safe_psql('postgres',
		"SELECT count(*) FROM supamon.job_health_log WHERE project_name = 'a' AND run_id IS NOT NULL"),
	'>=', 2, 'a: the real runs are read (each logged once)');
is($central->safe_psql('postgres', q{
	SELECT string_agg(job_name || ':' || last_run_status, ',' ORDER BY job_name)
	FROM supamon.job_inventory WHERE project_name = 'a'}),
	'a-fails:failed,a-ok:succeeded', 'a: each job has its latest run');
like($central->safe_psql('postgres', "SELECT last_run_message FROM supamon.job_inventory WHERE job_name = 'a-fails'"),
	qr/division by zero/, 'a: the failure keeps its error text');
is($central->safe_psql('postgres', "SELECT pg_cron_version || ' ' || scheduler_running || ' ' || cron_log_run || ' ' || (abs(extract(epoch FROM remote_now - last_check_at)) < 60) FROM supamon.project WHERE name = 'a'"),
	'1.4-1 true true true', "a: pg_cron's version, its scheduler running, log_run on, the project's clock");
is($central->safe_psql('postgres', "SELECT last_run_status FROM supamon.job_inventory WHERE project_name = 'thordata'"),
	'succeeded', 'thordata: its own pg_cron read locally');

# --- secrets: a password reaches no log line, error or recorded reason
{
	my $log_offset = -s $central->logfile;
	# log_statement = all (the test default) would log any statement's text
	$central->psql('postgres', qq{SET log_statement = 'none';
SELECT supamon_add_project('secretive', 'host=127.0.0.1 port=$refused_port dbname=postgres password=swordfish9');});
	my ($ret, $out, $err) = $central->psql('postgres', q{SET log_statement = 'none';
SELECT supamon_add_project('leaky', 'postgresql://admin:swordfish9@[::1');});
	like($err, qr/invalid connection string/, 'a bad connection string is refused');
	unlike($err, qr/swordfish9/, 'the error masks its password');
	$r = audit('secretive');
	unlike($r->{secretive}{error} . $central->safe_psql('postgres', "SELECT last_error FROM supamon.project WHERE name = 'secretive'"),
		qr/swordfish9/, 'the failure reason does not carry the password');
	unlike(slurp_file($central->logfile, $log_offset), qr/swordfish9/, 'nothing in the server log does');
}

$hung->kill_kill;
done_testing();
