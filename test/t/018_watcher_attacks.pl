# Attacks on "watching the watcher" (0.10.0), from outside: how checks are
# recorded when they run in blocks, savepoints, prepared or aborted
# transactions, or die; the heartbeat URL hanging, failing, answering 10 MB,
# read by pg_monitor, pinged hundreds of times, pinged by a check without a
# worker; the worker when supamon.watch is locked, emptied, or the extension
# recreated; the stale alert with no channel; the summary with 5,000 bad jobs
# and 1 MB names; the run strip with interval schedules, a restored project
# (runids back), a reinstalled pg_cron (jobids and runids from 1) and a
# renamed job.
#
# Every test asserts what a user should see.  Tests that fail on the code this
# file was written against are bugs (each says what was expected); the others
# are regression tests.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use IPC::Run;
use Encode ();
use lib 'test/perl';
use Receiver;
use SupamonTest;

my $r = Receiver->start;
my $SECRET = 'atk-hb-secret-777';
my $ping_path = "/ping/$SECRET";

# ---------------------------------------------------------------------------
# The central database (preloaded: the worker runs), a project with hand
# written cron tables (nothing runs by itself), a database of it whose
# cron.job takes 30 s to read, and one whose history the test "restores".
my $central = PostgreSQL::Test::Cluster->new('central');
$central->init;
$central->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
supamon.connect_timeout = 3000
max_prepared_transactions = 4
supamon.heartbeat_url = '@{[$r->url($ping_path)]}'
});
$central->start;

my $proj = PostgreSQL::Test::Cluster->new('proj');
$proj->init;
$proj->start;
$proj->safe_psql('postgres', cron_tables_sql() . q{
INSERT INTO cron.job (schedule, command, jobname) VALUES
	('* * * * *', 'SELECT 1', 'steady'), ('10 seconds', 'SELECT 1', 'tenner'), ('0 0 1 1 *', 'SELECT 1', 'flipper');
-- steady ran a few seconds ago; tenner (every 10 s) last ran 5 minutes ago
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time) VALUES
	(1, 'succeeded', 'x', now() - interval '3 seconds', now() - interval '2 seconds'),
	(2, 'succeeded', 'x', now() - interval '5 minutes', now() - interval '5 minutes' + interval '1 second'),
	(3, 'succeeded', 'x', now() - interval '3 seconds', now() - interval '2 seconds');
CREATE DATABASE slowdb;
CREATE DATABASE pitr;
});
$proj->safe_psql('slowdb', q{
CREATE SCHEMA cron;
CREATE FUNCTION public.slow() RETURNS boolean LANGUAGE sql AS 'SELECT pg_sleep(30) IS NOT NULL';
CREATE VIEW cron.job AS SELECT 1::bigint AS jobid, '* * * * *'::text AS schedule, 'SELECT 1'::text AS command,
	'localhost'::text AS nodename, 5432 AS nodeport, 'slowdb'::text AS database, 'postgres'::text AS username,
	true AS active, 'sleepy'::name AS jobname WHERE public.slow();
CREATE TABLE cron.job_run_details (jobid bigint, runid bigserial PRIMARY KEY, job_pid int, database text,
	username text, command text, status text, return_message text, start_time timestamptz, end_time timestamptz);
});
# pitr: a yearly job (never overdue in this test), its runs a few seconds old
$proj->safe_psql('pitr', cron_tables_sql() . q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 0 1 1 *', 'SELECT 1', 'phoenix');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', 'x', now() - interval '20 seconds', now() - interval '20 seconds');
});

$central->safe_psql('postgres', qq{
CREATE EXTENSION supamon;
SELECT supamon_add_project('local', '@{[project_connstr($proj)]}');
SELECT supamon_add_project('slow', '@{[project_connstr($proj, 'slowdb')]}');
SELECT supamon_add_project('pitr', '@{[project_connstr($proj, 'pitr')]}');
SELECT supamon_add_project('flipc', '@{[project_connstr($proj)]}');
UPDATE supamon.project SET enabled = false WHERE name = 'slow';
SELECT supamon_add_channel('team', 'discord', '@{[$r->url('/api/webhooks/18/atk-token')]}');
});

sub sql { return $central->safe_psql('postgres', $_[0]); }
sub state { return sql("SELECT $_[0] FROM supamon.check_status"); }
sub strip_of
{
	my ($node, $project, $job) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(recent, '') FROM supamon.job_status WHERE project = '$project' AND name = '$job'");
}
sub strip { return strip_of($central, 'local', $_[0]); }
sub marks { my ($s) = @_; my @m = $s =~ /(\xE2\x9C\x93|\xE2\x9C\x97|\xC2\xB7)/g; return scalar @m; }
sub dots { my ($s) = @_; my @m = $s =~ /\xC2\xB7/g; return scalar @m; }
sub pings { return count_req(kind => 'heartbeat', path => $_[0] // $ping_path); }
sub valid_utf8
{
	my ($hex) = @_;
	my $bytes = pack('H*', $hex);
	return eval { Encode::decode('UTF-8', $bytes, Encode::FB_CROAK); 1 } ? 1 : 0;
}
sub reload
{
	my ($node, @settings) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET $_") for @settings;
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	sleep 0.7;
}
sub worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'supamon worker'});
}
# Makes a project of its own ("flipc", "flipq") change status, unreachable
# (its connection string points at a closed port) or back, and checks it,
# which queues an alert for the worker; returns how long the alert took, from
# the check's end to the receiver (undef: not within $limit seconds).
my $closed = 'host=127.0.0.1 port=1 dbname=postgres connect_timeout=2';
sub alert_delay
{
	my ($node, $project, $hook, $limit) = @_;
	my $now = $node->safe_psql('postgres', "SELECT status FROM supamon.project WHERE name = '$project'");
	my $ci = $now eq 'unreachable' ? project_connstr($proj) : $closed;
	my $mine = sub { grep { index($_->{path}, $hook) >= 0 && ($_->{body} // '') =~ /: \Q$project\E"/ } @_ };
	my @before = $mine->($r->requests(kind => 'discord'));
	$node->safe_psql('postgres', "SELECT supamon_set_conninfo('$project', '$ci')");
	$node->safe_psql('postgres', "SELECT supamon_check_health('$project')");
	my $t = time;
	my $got = $r->wait_for(sub { my @m = $mine->(@_); @m > @before }, $limit);
	return $got ? time - $t : undef;
}
sub count_req { my @a = $r->requests(@_); return scalar @a; }
sub fmt { return defined $_[0] ? sprintf('%.1f s', $_[0]) : 'never'; }

sql('SELECT supamon_check_health()');
is(state('checks_completed'), '1', 'a first check completes');

# ===========================================================================
# 1. How a check is recorded, wherever it runs
# ===========================================================================

# A check in a PL/pgSQL block of its own that completed, then a sibling
# block that caught an unrelated error: the check's work commits, so it
# completed, and nothing raised.
{
	my $done = state('checks_completed');
	my $raised = state("coalesce(last_raised_at::text, 'none')");
	sql(q{DO $$ BEGIN
		BEGIN PERFORM supamon_check_health('local'); EXCEPTION WHEN others THEN NULL; END;
		BEGIN PERFORM 1 / 0; EXCEPTION WHEN division_by_zero THEN NULL; END;
	END $$});
	is(state('checks_completed'), $done + 1,
		'a check in a block, then an unrelated error caught in a sibling block: the check completed');
	is(state("coalesce(last_raised_at::text, 'none')"), $raised,
		'and check_status does not say it raised (' . state("coalesce(last_raised_error, '')") . ')');
}

# The same with savepoints.
{
	my $done = state('checks_completed');
	sql(q{BEGIN; SAVEPOINT a; SELECT supamon_check_health('local'); RELEASE a;
		SAVEPOINT b; SELECT 1; ROLLBACK TO b; COMMIT;});
	is(state('checks_completed'), $done + 1,
		'a check in a released savepoint, then another savepoint rolled back: the check completed');
}

# A check that completed, then a second one in the same transaction whose
# error the caller caught: the first one's work commits.
{
	my $done = state('checks_completed');
	my $at = sql(q{SELECT last_check_at FROM supamon.project WHERE name = 'local'});
	my $hb = pings();
	sql(q{DO $$ BEGIN
		PERFORM supamon_check_health('local');
		BEGIN PERFORM supamon_check_health('no-such-project'); EXCEPTION WHEN others THEN NULL; END;
	END $$});
	isnt(sql(q{SELECT last_check_at FROM supamon.project WHERE name = 'local'}), $at,
		'a check, then a caught failing one: the first one\'s work committed');
	is(state('checks_completed'), $done + 1, 'so the first one is counted as completed');
	like(state('last_raised_error'), qr/no-such-project/, 'and the second one as raised');
	$r->wait_for(sub { (grep { $_->{kind} eq 'heartbeat' } @_) > $hb }, 5);
	is(pings(), $hb + 1, 'and the completed one pinged the heartbeat');
}

# A loop over projects, each check in its own block: one that raises does
# not erase the others.
{
	my $done = state('checks_completed');
	sql(q{DO $$ DECLARE p text; BEGIN
		FOREACH p IN ARRAY ARRAY['local', 'pitr', 'nope-1', 'local'] LOOP
			BEGIN PERFORM supamon_check_health(p); EXCEPTION WHEN others THEN RAISE NOTICE 'skip %', p; END;
		END LOOP;
	END $$});
	is(state('checks_completed'), $done + 3, 'a loop of checks in blocks, one raising: the three others completed');
}

# A check inside a larger transaction that later aborts: rolled back, seen.
{
	my $done = state('checks_completed');
	my ($rc) = $central->psql('postgres', q{BEGIN; SELECT supamon_check_health('local'); SELECT 1/0; COMMIT;});
	is(state('checks_completed'), $done, 'a check whose transaction aborted later is not completed');
	like(state('last_raised_error'), qr/returned, but the transaction that called it was rolled back/,
		'check_status says its transaction was rolled back');
}

# Several checks in one statement: each completed.
{
	my $done = state('checks_completed');
	sql(q{SELECT count(supamon_check_health('local')) FROM generate_series(1, 3)});
	is(state('checks_completed'), $done + 3, 'three checks in one statement: three completed');
}

# Two-phase commit: a prepared transaction that is then rolled back did not
# complete a check (its work is gone), nor should it have pinged.
{
	my $done = state('checks_completed');
	my ($rc, $out, $err) = $central->psql('postgres',
		q{BEGIN; SELECT supamon_check_health('local'); PREPARE TRANSACTION 'atk_2pc';});
	if ($rc == 0)
	{
		sql(q{ROLLBACK PREPARED 'atk_2pc'});
		is(state('checks_completed'), $done, 'a check in a transaction PREPAREd then ROLLBACK PREPARED is not completed');
	}
	else
	{
		pass("PREPARE TRANSACTION refused after a check: $err");
	}
}

# FATAL during a check (pg_terminate_backend): seen as raised.
{
	sql(q{UPDATE supamon.project SET enabled = true WHERE name = 'slow'});
	my $before = state("coalesce(last_raised_at::text, 'none')");
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-d', $central->connstr('postgres'), '-c',
		"SELECT supamon_check_health('slow')" ], '>', \$out, '2>', \$err);
	ok($central->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%supamon_check_health(''slow'')%' AND pid <> pg_backend_pid()}),
		'a check of a slow project runs');
	sleep 0.5;
	sql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE query LIKE '%supamon_check_health(''slow'')%' AND pid <> pg_backend_pid()});
	$h->finish;
	ok($central->poll_query_until('postgres',
		"SELECT coalesce(last_raised_at::text, 'none') <> '$before' AND last_raised_project = 'slow' FROM supamon.check_status"),
		'a check ended by FATAL is recorded as raised, with its project');
	sql(q{UPDATE supamon.project SET enabled = false WHERE name = 'slow'});
}

# A long error with multibyte characters: check_status must still be valid
# UTF-8 (a client decoding it would fail).
{
	my $name = "repeat('\xE5\x90\x8D', 300)";    # U+540D, 3 bytes
	$central->psql('postgres', "SELECT supamon_check_health($name)");
	is(state("last_raised_error LIKE 'project %'"), 't', 'a check of an unknown project with a long name raised');
	is(valid_utf8(state(q{encode(textsend(last_raised_error), 'hex')})), 1,
		'check_status.last_raised_error is valid UTF-8 (not cut inside a character)');
	is(valid_utf8(state(q{encode(textsend(last_raised_project), 'hex')})), 1,
		'check_status.last_raised_project is valid UTF-8');
}

# A role granted project_status alone (as before 0.10.0) still reads it.
{
	sql(q{CREATE ROLE dashboard LOGIN; GRANT USAGE ON SCHEMA supamon TO dashboard;
		GRANT SELECT ON supamon.project_status TO dashboard});
	my ($rc, $out, $err) = $central->psql('postgres',
		q{SET ROLE dashboard; SELECT count(*) FROM supamon.project_status});
	is($rc, 0, "a role granted SELECT on project_status alone still reads it after 0.10.0 ($err)");
}

# ===========================================================================
# 2. The run strip
# ===========================================================================

# An interval schedule: a 10-second job that stopped 5 minutes ago missed
# ~30 fires; each check that finds it missed marks at least one.
{
	sql("SELECT supamon_check_health('local')") for 1 .. 3;
	my $s = strip('tenner');
	is(sql(q{SELECT status FROM supamon.job_status WHERE project = 'local' AND name = 'tenner'}), 'missed', 'the 10-second job is missed');
	cmp_ok(dots($s), '>=', 3, "its strip marks its missed fires, at least one per check that found it missed: '$s'");
}

# A renamed job (same jobid): its new name's strip has each new run once.
{
	my $old = strip('steady');
	$proj->safe_psql('postgres', q{UPDATE cron.job SET jobname = 'steady-renamed' WHERE jobid = 1;
		INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
		VALUES (1, 'failed', 'boom', now(), now())});
	sql(q{SELECT supamon_check_health('local')});
	my $new = strip('steady-renamed');
	ok($new eq "\xE2\x9C\x97" || $new eq "$old\xE2\x9C\x97",
		"a renamed job: the new run once, old runs not counted again ('$old' -> '$new')");
}

# A project restored to an earlier point (Supabase PITR): the newest runs
# and runids go back.  Nothing new ran: the strip must not change.
{
	sql(q{SELECT supamon_check_health('pitr')});
	is(strip_of($central, 'pitr', 'phoenix'), "\xE2\x9C\x93", 'pitr: first contact, the newest run');
	$proj->safe_psql('pitr', q{INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
		SELECT 1, 'succeeded', 'x', now() - make_interval(secs => 10 - k), now() - make_interval(secs => 10 - k)
		FROM generate_series(1, 4) k ORDER BY k});
	sql(q{SELECT supamon_check_health('pitr')});
	my $before = strip_of($central, 'pitr', 'phoenix');
	is(marks($before), 5, "five runs, five marks: '$before'");
	# the restore: the last two runs are gone, the sequence back
	$proj->safe_psql('pitr', q{DELETE FROM cron.job_run_details WHERE runid > 3;
		SELECT setval('cron.job_run_details_runid_seq', 3)});
	sql(q{SELECT supamon_check_health('pitr')});
	my $after = strip_of($central, 'pitr', 'phoenix');
	is($after, $before, "a restored project (runids back), nothing new ran: the strip is unchanged ('$after')");
	# then pg_cron reinstalled: jobs and runs from 1, jobid 1 another job
	$proj->safe_psql('pitr', q{TRUNCATE cron.job, cron.job_run_details RESTART IDENTITY;
		INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 0 1 1 *', 'SELECT 2', 'newcomer');
		INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
		VALUES (1, 'failed', 'x', now() - interval '2 seconds', now() - interval '2 seconds')});
	sql(q{SELECT supamon_check_health('pitr')});
	is(strip_of($central, 'pitr', 'newcomer'), "\xE2\x9C\x97", 'pg_cron reinstalled: the new job\'s strip has its own run');
	$proj->safe_psql('pitr', q{INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
		VALUES (1, 'succeeded', 'x', now(), now())});
	sql(q{SELECT supamon_check_health('pitr')});
	is(strip_of($central, 'pitr', 'newcomer'), "\xE2\x9C\x97\xE2\x9C\x93", 'and its next run is added');
}

# ===========================================================================
# 3. The heartbeat
# ===========================================================================

# Secrets: pg_monitor sees stars, in SHOW and in every column of pg_settings.
{
	sql(q{CREATE ROLE atk_watcher LOGIN IN ROLE pg_monitor});
	is($central->safe_psql('postgres', 'SET ROLE atk_watcher; SHOW supamon.heartbeat_url'), '********',
		'pg_monitor: SHOW says ********');
	my $row = $central->safe_psql('postgres',
		q{SET ROLE atk_watcher; SELECT concat_ws(' | ', setting, reset_val, boot_val) FROM pg_settings WHERE name = 'supamon.heartbeat_url'});
	unlike($row, qr/\Q$SECRET\E/, "pg_monitor: no column of pg_settings has the heartbeat URL ($row)");
}

# Bad answers: 500, garbage, 10 MB.  The check never fails; check_status says.
{
	$r->control('/ping/', [ { status => 500 } ]);
	like(sql(q{SELECT supamon_check_health('local')}), qr/total_jobs/, 'a heartbeat answering 500: the check completes');
	ok($central->poll_query_until('postgres', q{SELECT last_heartbeat_error = 'it answered HTTP 500' FROM supamon.check_status}),
		'check_status: HTTP 500');
	$r->control('/ping/', [ { garbage => 1 } ]);
	sql(q{SELECT supamon_check_health('local')});
	ok($central->poll_query_until('postgres', q{SELECT last_heartbeat_error IS NULL FROM supamon.check_status}),
		'a 200 with garbage is a ping that worked');
	$r->control('/ping/', [ { big => 10 * 1024 * 1024 } ]);
	my $t = time;
	sql(q{SELECT supamon_check_health('local')});
	ok($r->wait_for(sub { grep { $_->{kind} eq 'heartbeat' && ($_->{behaviour} // {})->{big} } @_ }, 15),
		'a 10 MB answer is read');
	ok($central->poll_query_until('postgres', q{SELECT last_heartbeat_error IS NULL FROM supamon.check_status}),
		'and dropped: no error');
	is(state('last_heartbeat_error IS NULL'), 't', sprintf('(%.1f s)', time - $t));
}

# Hundreds of checks in one transaction: pings bounded.
{
	my $hb = pings();
	sql(q{SELECT count(supamon_check_health('local')) FROM generate_series(1, 60)});
	sleep 3;
	cmp_ok(pings() - $hb, '<=', 4, sprintf('60 checks in one transaction: %d pings, not 60', pings() - $hb));
}

# Hundreds of pings: the worker's memory stays flat.
{
	my $pid = worker_pid($central);
	my $grand = sub {
		my $logsize = -s $central->logfile;
		sql("SELECT pg_log_backend_memory_contexts($pid)");
		my $total;
		for (1 .. 50)
		{
			sleep 0.2;
			my $log = slurp_file($central->logfile, $logsize);
			($total) = $log =~ /\[$pid\][^\n]*Grand total: (\d+) bytes/;
			last if defined $total;
		}
		return $total;
	};
	my $m0 = $grand->();
	sql(q{CREATE PROCEDURE atk_many(n int) LANGUAGE plpgsql AS $$ BEGIN
		FOR i IN 1 .. n LOOP PERFORM supamon_check_health('pitr'); COMMIT; PERFORM pg_sleep(0.03); END LOOP; END $$});
	my $hb = pings();
	sql('CALL atk_many(200)');
	$r->wait_for(sub { 0 }, 2);
	my $n = pings() - $hb;
	cmp_ok($n, '>=', 100, "200 checks, each committed: $n pings");
	my $m1 = $grand->();
	ok(defined $m0 && defined $m1 && $m1 - $m0 < 256 * 1024,
		sprintf('the worker\'s memory after %d pings: %s -> %s bytes', $n, $m0 // '?', $m1 // '?'));
}

# The baseline: how long an alert takes.
{
	my $d = alert_delay($central, 'flipc', '/webhooks/18/', 15);
	ok(defined $d && $d < 3, 'an alert leaves at once (' . fmt($d) . ')');
}

# A heartbeat that hangs: alerts still leave at once.
$r->control('/ping/', [ { hang => 120 } ], 1);
{
	my $hb = count_req(kind => 'heartbeat');
	sql(q{SELECT supamon_check_health('local')});
	ok($r->wait_for(sub { (grep { $_->{kind} eq 'heartbeat' } @_) > $hb }, 10), 'the heartbeat hangs');
	my $d = alert_delay($central, 'flipc', '/webhooks/18/', 15);
	ok(defined $d && $d < 3, 'a hanging heartbeat: an alert leaves at once (' . fmt($d) . ')');
	my $c = sql(q{SELECT supamon_check_health('local')});
	like($c, qr/total_jobs/, 'and checks complete');
	sleep 10.5;    # the hanging ping times out (supamon.http_timeout)
}

# The same with supamon.max_sends = 1: the ping must not hold the only slot.
{
	reload($central, "supamon.max_sends = 1");
	my $hb = count_req(kind => 'heartbeat');
	sql(q{SELECT supamon_check_health('local')});
	ok($r->wait_for(sub { (grep { $_->{kind} eq 'heartbeat' } @_) > $hb }, 10), 'the heartbeat hangs again');
	my $d = alert_delay($central, 'flipc', '/webhooks/18/', 40);
	ok(defined $d && $d < 3, 'supamon.max_sends = 1 and a hanging heartbeat: an alert still leaves at once (' . fmt($d) . ')');
	reload($central, "supamon.max_sends = 20");
}

# A user's transaction holding supamon.watch (resetting the stale state by
# hand, left open): alerts must not wait for it.
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-d', $central->connstr('postgres'), '-c',
		q{BEGIN; UPDATE supamon.watch SET stale_since = NULL; SELECT pg_sleep(15); COMMIT;} ],
		'>', \$out, '2>', \$err);
	ok($central->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%UPDATE supamon.watch%' AND pid <> pg_backend_pid()}),
		'a transaction holds supamon.watch');
	sql(q{SELECT supamon_check_health('local')});    # wakes the worker, which looks at supamon.watch
	sleep 1;
	my $d = alert_delay($central, 'flipc', '/webhooks/18/', 20);
	ok(defined $d && $d < 3, 'supamon.watch locked by a user: an alert still leaves at once (' . fmt($d) . ')');
	$h->finish;
}

# Shutdown while a ping hangs.
{
	my $hb = count_req(kind => 'heartbeat');
	sql(q{SELECT supamon_check_health('local')});
	ok($r->wait_for(sub { (grep { $_->{kind} eq 'heartbeat' } @_) > $hb }, 10), 'a ping hangs');
	my $t = time;
	$central->stop('fast');
	my $d = time - $t;
	cmp_ok($d, '<', 5, sprintf('a fast shutdown while the heartbeat hangs: %.1f s', $d));
	$central->start;
}
$r->reset;

# ===========================================================================
# 4. Without a worker, the check pings itself
# ===========================================================================
my $lone = PostgreSQL::Test::Cluster->new('lone');
$lone->init;
$lone->append_conf('postgresql.conf', "supamon.heartbeat_url = '" . $r->url('/ping/lone') . "'\n");
$lone->start;
$lone->safe_psql('postgres', q{CREATE EXTENSION supamon; SELECT supamon_add_project('self')});
{
	$r->control('/ping/lone', [ { hang => 60 } ], 1);
	my $t = time;
	my ($rc, $out, $err) = $lone->psql('postgres', 'SELECT supamon_check_health()');
	my $d = time - $t;
	is($rc, 0, 'no worker, a hanging heartbeat: the check completes');
	cmp_ok($d, '<', 3, sprintf('without being held by the heartbeat (%.1f s)', $d));
	($rc, $out, $err) = $lone->psql('postgres', q{SET statement_timeout = '3s'; SELECT supamon_check_health()});
	is($rc, 0, "no worker, a hanging heartbeat, statement_timeout 3 s: the check still completes ($err)");
	$r->reset;
	my $hb = pings('/ping/lone');
	$lone->psql('postgres', q{BEGIN; SELECT supamon_check_health(); ROLLBACK;});
	sleep 1.5;    # a ping would come from a process started at the commit
	is(pings('/ping/lone') - $hb, 0, 'no worker: a check whose transaction rolled back does not ping');
	# pg_cron sends a job's command as one query string: one transaction
	$lone->psql('postgres', q{DO $$ BEGIN PERFORM supamon_check_health(); PERFORM 1/0; END $$});
	sleep 1.5;
	is(pings('/ping/lone') - $hb, 0, 'nor one whose pg_cron command failed after it');
	$hb = pings('/ping/lone');
	$lone->safe_psql('postgres', 'SELECT supamon_check_health()');
	# pinged by a short-lived process the commit started
	$r->wait_for(sub { (grep { $_->{kind} eq 'heartbeat' && $_->{path} eq '/ping/lone' } @_) > $hb }, 10);
	sleep 1;
	is(pings('/ping/lone') - $hb, 1, 'one that committed pings once');
	# a host name with two addresses (::1 and 127.0.0.1): curl may open two sockets
	$lone->append_conf('postgresql.conf', "supamon.heartbeat_url = 'http://localhost:" . $r->port . "/ping/lonelocal'\n");
	$lone->reload;
	sleep 0.5;
	($rc, $out, $err) = $lone->psql('postgres', 'SELECT supamon_check_health()');
	$r->wait_for(sub { grep { $_->{kind} eq 'heartbeat' && $_->{path} eq '/ping/lonelocal' } @_ }, 10);
	is(pings('/ping/lonelocal'), 1, "no worker: a heartbeat URL naming localhost is pinged ($err)");
}

# A central database in LATIN1: the strip in letters.
{
	$lone->safe_psql('postgres', q{CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
	$lone->safe_psql('latin', qq{CREATE EXTENSION supamon; SELECT supamon_add_project('p', '@{[project_connstr($proj)]}');
		SELECT supamon_check_health(); SELECT supamon_check_health();});
	is($lone->safe_psql('latin', q{SELECT count(*) > 0 AND bool_and(recent ~ '^[+x.]+$') FROM supamon.job_status WHERE recent IS NOT NULL}),
		't', 'LATIN1: the strip in +, x and .');
}

# ===========================================================================
# 5. A worker that serves another database
# ===========================================================================
my $split = PostgreSQL::Test::Cluster->new('split');
$split->init;
$split->append_conf('postgresql.conf', "shared_preload_libraries = 'supamon'\n"
	  . "supamon.heartbeat_url = '" . $r->url('/ping/split') . "'\n");
$split->start;
$split->safe_psql('postgres', 'CREATE DATABASE fleet');
$split->safe_psql('fleet', q{CREATE EXTENSION supamon; SELECT supamon_add_project('self')});
{
	$split->safe_psql('fleet', 'SELECT supamon_check_health()');
	ok($r->wait_for(sub { grep { $_->{kind} eq 'heartbeat' && $_->{path} eq '/ping/split' } @_ }, 12),
		'the worker serves a database without supamon, the check runs in another: the heartbeat is pinged all the same');
	# then supamon 0.9.0 in the worker's database, updated: the worker pings
	$split->safe_psql('postgres', q{CREATE EXTENSION supamon VERSION '0.9.0'; SELECT supamon_add_project('self')});
	$split->safe_psql('postgres', q{ALTER EXTENSION supamon UPDATE});
	is($split->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'supamon'}), '0.11.0', 'updated to the default version (0.11.0)');
	sleep 11;    # the worker's next look at the extension
	my $hb = pings('/ping/split');
	$split->safe_psql('postgres', 'SELECT supamon_check_health()');
	ok($r->wait_for(sub { (grep { $_->{kind} eq 'heartbeat' && $_->{path} eq '/ping/split' } @_) > $hb }, 12),
		'after ALTER EXTENSION UPDATE, the worker pings for a completed check');
	is($split->safe_psql('postgres', q{SELECT worker_running AND stale IS NOT NULL FROM supamon.check_status}), 't',
		'check_status reads after the update');
}
$split->stop;

# ===========================================================================
# 6. The stale alert, the summary and supamon.watch under attack
# ===========================================================================
my $quiet = PostgreSQL::Test::Cluster->new('quiet');
$quiet->init;
$quiet->append_conf('postgresql.conf', "shared_preload_libraries = 'supamon'\nsupamon.stale_after = 2\n");
$quiet->start;
$quiet->safe_psql('postgres', qq{CREATE EXTENSION supamon; SELECT supamon_add_project('q', '@{[project_connstr($proj)]}');
	SELECT supamon_add_project('flipq', '@{[project_connstr($proj)]}')});
{
	# no channel at all: nobody can be told
	sleep 12;    # more than the worker's look every 10 s
	is($quiet->safe_psql('postgres', q{SELECT stale FROM supamon.check_status}), 'f',
		'no check ever, but no channel to tell: not marked as told');
	$quiet->safe_psql('postgres', qq{SELECT supamon_add_channel('qteam', 'discord', '@{[$r->url('/api/webhooks/19/quiet')]}')});
	my $told = $r->wait_for(sub { grep { $_->{path} =~ m{/webhooks/19/} && ($_->{body} // '') =~ /has not completed a check/ } @_ }, 15);
	ok($told, 'stale while no channel existed: the channel added later is told');
}

# The summary with 5,000 bad jobs, some with 12 kB names (a btree key can hold no more) and odd characters.
{
	$quiet->safe_psql('postgres', q{
INSERT INTO supamon.job_inventory (project_name, job_type, job_name, status, criticality)
SELECT 'q', 'pg_cron', CASE WHEN i <= 5 THEN i || repeat(E'\u540D<&>', 2000) ELSE 'bad-' || i END,
	   'failed', CASE WHEN i <= 5 THEN 'critical' ELSE 'low' END
FROM generate_series(1, 5000) i});
	reload($quiet, "supamon.summary_schedule = '2 seconds'");
	my $sum = $r->wait_for(sub { grep { $_->{path} =~ m{/webhooks/19/} && ($_->{body} // '') =~ /supamon summary/ } @_ }, 30);
	ok($sum, 'the summary with 5,000 failed jobs arrives');
	my ($msg) = grep { $_->{path} =~ m{/webhooks/19/} && ($_->{body} // '') =~ /supamon summary/ } $r->requests(kind => 'discord');
	my $content = $msg ? (($msg->{json} // {})->{content} // '') : '';
	my $body = $msg ? $msg->{body} : '';
	cmp_ok(length($body), '<', 8000, 'its body is small: ' . length($body) . ' bytes');
	like($msg ? $msg->{status} : 0, qr/^20[04]$/, 'Discord accepted it');
	like($body, qr/and \d{4} more/, 'it says how many more');
	reload($quiet, "supamon.summary_schedule = ''");
	$quiet->safe_psql('postgres', q{DELETE FROM supamon.job_inventory WHERE project_name = 'q'});
}

# supamon.watch emptied by a superuser: alerts must still leave.
{
	$quiet->safe_psql('postgres', "SELECT supamon_check_health()");    # first contact
	my $base = alert_delay($quiet, 'flipq', '/webhooks/19/', 10);
	ok(defined $base, 'quiet: an alert leaves (' . fmt($base) . ')');
	my $logsize = -s $quiet->logfile;
	$quiet->safe_psql('postgres', 'DELETE FROM supamon.watch');
	sleep 1;
	my $d = alert_delay($quiet, 'flipq', '/webhooks/19/', 25);
	ok(defined $d, 'supamon.watch emptied: an alert still leaves (' . fmt($d) . ')');
	my $log = slurp_file($quiet->logfile, $logsize);
	my $errors = () = $log =~ /ERROR:  supamon: could not read supamon\.watch/g;
	my $exits = () = $log =~ /background worker "supamon worker" \(PID \d+\) exited with exit code 1/g;
	is($exits, 0, "and the worker does not die over it ($errors errors, $exits exits)");
	ok($quiet->poll_query_until('postgres', 'SELECT count(*) = 1 FROM supamon.watch'),
		'the worker put its row back');
}

# DROP EXTENSION and CREATE EXTENSION while the worker runs.
{
	sleep 11;    # a worker that died comes back
	my $logsize = -s $quiet->logfile;
	$quiet->safe_psql('postgres', q{DROP EXTENSION supamon CASCADE});
	sleep 1;
	$quiet->safe_psql('postgres', qq{CREATE EXTENSION supamon; SELECT supamon_add_project('q', '@{[project_connstr($proj)]}');
		SELECT supamon_add_channel('qteam', 'discord', '@{[$r->url('/api/webhooks/19/quiet')]}');
		SELECT supamon_add_project('flipq', '@{[project_connstr($proj)]}');
		SELECT supamon_check_health()});
	my $d = alert_delay($quiet, 'flipq', '/webhooks/19/', 25);
	ok(defined $d, 'DROP and CREATE EXTENSION under the worker: an alert leaves (' . fmt($d) . ')');
	is($quiet->safe_psql('postgres', 'SELECT worker_running FROM supamon.check_status'), 't', 'check_status reads');
	my $log = slurp_file($quiet->logfile, $logsize);
	unlike($log, qr/FATAL|TRAP|server process .* was terminated/, 'no crash in the log');
}
$quiet->stop;

# ===========================================================================
# 7. Secrets in the logs
# ===========================================================================
for my $node ($central, $lone)
{
	my @lines = grep { /\Q$SECRET\E|ping\/lone/ } split /\n/, slurp_file($node->logfile);
	my @ours = grep { !/LOG:  parameter "supamon\.heartbeat_url" changed to/ } @lines;
	is(scalar(@ours), 0, $node->name . ': the heartbeat URL is in no log line of supamon\'s' . (@ours ? ": $ours[0]" : ''));
  TODO:
	{
		local $TODO = 'documented: PostgreSQL logs a reloaded setting, masked only where supamon is preloaded';
		is(scalar(@lines), 0, $node->name . ': nor in PostgreSQL\'s "parameter changed" line' . (@lines ? ": $lines[0]" : ''));
	}
}

done_testing();
