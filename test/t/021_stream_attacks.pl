# Attacks on recording each project as soon as its answer arrives (audit.c
# AuditAll, pool.c client_settle, remote.c's settle hook, at 8783014).
#
# A check now records (SPI, a subtransaction per project) from inside the
# collection loop while other projects' answers are still in flight.  A
# recording that takes long (here: it waits for a row lock that a user's
# open transaction holds on a job, the most ordinary thing to do in psql)
# must not turn the answers that arrive meanwhile into timeouts: before
# 8783014 the answers were all read first, then recorded, and a slow
# recording delayed the check but blamed no project.
#
# Clusters: "fleet" (databases pa, pb, pc with pg_cron's tables written by
# hand), "plain" (supamon not preloaded: the check reads the projects
# itself) and "pooled" (supamon preloaded: the collector reads them and
# relays the answers through a 256 kB shm_mq).
#
#	pa	one job, a new run before the attacked check: its recording updates
#		the job's row, which the user's open transaction holds
#	pb	60 jobs with 10,000-character commands: an answer of about 600 kB,
#		more than libpq reads in one turn and more than the collector's queue
#	pc	one job: a small answer
# pb and pc answer late (a lock in the project, released once pa's recording
# is known to wait), so their answers arrive while pa is being recorded.
#
# Also: a cancel while a project is being recorded ends the check and
# leaves no connection open at the projects (without preloading) and the
# next check works; the results of a check without any stall are the same
# with and without the collector.
#
# Status: passes at 3af3522 (before recording in the loop); failed at
# 8783014 (plain: pb "no answer within 4000 ms"; pooled: pc, timed out by
# the collector while it was blocked in shm_mq_send on pb's answer) and at
# c558bdf (plain still, every run; pooled in 1 run of 3).  Since then a
# check again records once the collection is over (each answer is only
# read into its snapshot as it comes): it passes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time sleep);
use lib 'test/perl';
use SupamonTest;

my $fleet = PostgreSQL::Test::Cluster->new('fleet');
$fleet->init;
$fleet->append_conf('postgresql.conf', qq{
listen_addresses = '127.0.0.1'
max_connections = 60
});
$fleet->start;

for my $db (qw(pa pb pc))
{
	$fleet->safe_psql('postgres', "CREATE DATABASE $db");
	$fleet->safe_psql($db, cron_tables_sql());
}
# daily jobs: a run after today's fire time is a success whatever the hour
$fleet->safe_psql('pa', q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 3 * * *', 'SELECT 1', 'pa_job');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', now() - interval '2 minutes', now() - interval '119 seconds');
});
$fleet->safe_psql('pb', q{
INSERT INTO cron.job (schedule, command, jobname)
SELECT '0 3 * * *', 'SELECT ' || repeat('x', 9990), 'pb_' || g FROM generate_series(1, 60) g;
});
$fleet->safe_psql('pc', q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 3 * * *', 'SELECT 1', 'pc_job');
});

sub central
{
	my ($name, $preload) = @_;
	my $c = central_with_closed_channel($name, $preload);
	for my $db (qw(pa pb pc))
	{
		$c->safe_psql('postgres', "SELECT supamon_add_project('$db', '@{[project_connstr($fleet, $db)]}')");
	}
	return $c;
}

# project => "reachable|last_error"
sub reach
{
	my ($c) = @_;
	my %r;
	for my $line (split /\n/, $c->safe_psql('postgres',
		"SELECT name, reachable, coalesce(last_error, '') FROM supamon.project ORDER BY name"))
	{
		my ($n, $ok, $e) = split /\|/, $line, 3;
		$r{$n} = "$ok|$e";
	}
	return \%r;
}

sub new_run
{
	$fleet->safe_psql('pa', q{
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', now() - interval '5 seconds', now() - interval '4 seconds')});
}

# Starts a check in a psql of its own; returns (harness, \$out, \$err).
sub start_check
{
	my ($c) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $c->connstr('postgres'),
		  '-c', 'SELECT supamon_check_health()' ],
		'>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

my $lock_wait_sql = q{
SELECT count(*) = 1 FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND query LIKE '%supamon_check_health%' AND pid <> pg_backend_pid()};

sub lock_waits
{
	my ($c) = @_;
	return $c->safe_psql('postgres', $lock_wait_sql) eq 't';
}

sub check_waits_for_lock
{
	my ($c) = @_;
	return $c->poll_query_until('postgres', $lock_wait_sql);
}

# The attack: pa's recording waits ~5 s for a user's transaction while pb's
# and pc's answers come in.  Returns the check's output and the projects'
# state after it.
sub stalled_check
{
	my ($c, $label) = @_;

	new_run();
	my $user = $c->background_psql('postgres');
	$user->query_safe('BEGIN');
	$user->query_safe("SELECT supamon_set_job('pa', 'pa_job', criticality => 'critical')");
	my %hold;
	for my $db (qw(pb pc))
	{
		$hold{$db} = $fleet->background_psql($db);
		$hold{$db}->query_safe('BEGIN');
		$hold{$db}->query_safe('LOCK TABLE cron.job IN ACCESS EXCLUSIVE MODE');
	}
	my $t0 = time;
	my ($h, $out, $err) = start_check($c);
	# (before 8783014 the recording waits only once every answer is in: the
	# projects answer after 1.5 s at the latest, well within their timeouts)
	sleep 0.05 until lock_waits($c) || time - $t0 > 1.5;
	$hold{pb}->query_safe('COMMIT');
	sleep 0.3;
	$hold{pc}->query_safe('COMMIT');
	$_->quit for values %hold;
	# past supamon.query_timeout + 1 s since the queries were sent, but far
	# within the project's own lock and statement timeouts for pb and pc
	sleep 0.1 while time - $t0 < 5.5;
	ok(lock_waits($c), "$label: pa's recording waits for the user's transaction");
	$user->query_safe('COMMIT');
	$user->quit;
	$h->finish;
	note "$label: $$out $$err";
	return ($$out, $$err);
}

for my $mode ([ 'plain', 0 ], [ 'pooled', 1 ])
{
	my ($name, $preload) = @$mode;
	my $c = central($name, $preload);

	my $first = $c->safe_psql('postgres', 'SELECT supamon_check_health()');
	like($first, qr/"unreachable_projects": 0/, "$name: the fleet is reachable");
	is_deeply(reach($c), { pa => 't|', pb => 't|', pc => 't|' }, "$name: every project reached");

	my ($out, $err) = stalled_check($c, $name);
	is($err, '', "$name: the stalled check ends without an error");
	like($out, qr/"unreachable_projects": 0/,
		"$name: a recording that waited blames no project whose answer came meanwhile");
	is_deeply(reach($c), { pa => 't|', pb => 't|', pc => 't|' },
		"$name: pb and pc still reachable (project => reachable|last_error)");
	is($c->safe_psql('postgres',
		"SELECT coalesce(string_agg(project_name || ': ' || message, '; '), '') FROM supamon.alert_outbox WHERE event = 'unreachable'"),
		'', "$name: no unreachable alert queued");
	is($c->safe_psql('postgres', "SELECT criticality FROM supamon.job_inventory WHERE job_name = 'pa_job'"),
		'critical', "$name: the user's edit stands");
	is($c->safe_psql('postgres',
		"SELECT count(*) FROM supamon.job_health_log WHERE job_name = 'pa_job' AND run_id IS NOT NULL"),
		'2', "$name: both of pa's runs logged once");

	# --- a cancel while pa is recorded: the check ends, as the caller's
	new_run();
	my $user = $c->background_psql('postgres');
	$user->query_safe('BEGIN');
	$user->query_safe("SELECT supamon_set_job('pa', 'pa_job', criticality => 'low')");
	my $hold = $fleet->background_psql('pc');
	$hold->query_safe('BEGIN');
	$hold->query_safe('LOCK TABLE cron.job IN ACCESS EXCLUSIVE MODE');
	my ($h, $cout, $cerr) = start_check($c);
	ok(check_waits_for_lock($c), "$name: pa's recording waits again");
	$c->safe_psql('postgres', q{
SELECT pg_cancel_backend(pid) FROM pg_stat_activity
WHERE query LIKE '%supamon_check_health%' AND pid <> pg_backend_pid()});
	$h->finish;
	like($$cerr, qr/canceling statement due to user request/, "$name: the cancel ends the check");
	$hold->query_safe('COMMIT');
	$hold->quit;
	$user->query_safe('ROLLBACK');
	$user->quit;
	if (!$preload)
	{
		ok($fleet->poll_query_until('postgres',
				"SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'supamon'"),
			"$name: no connection left open at the projects");
	}
	is($c->safe_psql('postgres', "SELECT supamon_check_health()") =~ /"unreachable_projects": 0/ ? 1 : 0,
		1, "$name: the next check reaches the fleet");
	is_deeply(reach($c), { pa => 't|', pb => 't|', pc => 't|' }, "$name: and records it");
	is($c->safe_psql('postgres',
		"SELECT count(*) FROM supamon.job_health_log WHERE job_name = 'pa_job' AND run_id IS NOT NULL"),
		'3', "$name: the run the cancelled check read is logged by the next, once");
	$c->stop;
}

done_testing();
