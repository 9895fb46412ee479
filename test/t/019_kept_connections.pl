# Project connections kept open across checks by the collector (pool.c):
# one backend per project across checks, a project restarted between checks
# reconnected without a false "unreachable", a connection dropped mid-check
# failing only its project, idle connections closed after the limit, a
# removed project's connection closed, a changed conninfo reconnected, and
# a cancelled check leaving the collector serving the next.
#
# Clusters: "central" (supamon preloaded: its worker and its collector),
# "fleet" (three project databases) and "other" (one more project, its own
# server, restarted by the test).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use lib 'test/perl';
use SupamonTest;

my $central = PostgreSQL::Test::Cluster->new('central');
$central->init;
$central->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
supamon.connect_timeout = 5000
supamon.query_timeout = 20000
});
$central->start;
$central->safe_psql('postgres', 'CREATE EXTENSION supamon');

my $fleet = PostgreSQL::Test::Cluster->new('fleet');
$fleet->init;
$fleet->start;
my $other = PostgreSQL::Test::Cluster->new('other');
$other->init;
$other->start;

my $jobs = cron_tables_sql() . q{
INSERT INTO cron.job (schedule, command, jobname) VALUES
	('0 3 * * *', 'SELECT 1', 'nightly'), ('*/5 * * * *', 'SELECT 2', 'often');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', now() - interval '1 hour', now() - interval '1 hour');
};
for my $db (qw(a b c))
{
	$fleet->safe_psql('postgres', "CREATE DATABASE $db");
	$fleet->safe_psql($db, $jobs);
	$central->safe_psql('postgres',
		"SELECT supamon_add_project('$db', '" . project_connstr($fleet, $db) . "')");
}
$other->safe_psql('postgres', $jobs);
$central->safe_psql('postgres',
	"SELECT supamon_add_project('o', '" . project_connstr($other, 'postgres') . "')");

ok($central->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'supamon collector'"),
	'the collector runs');

# supamon's sessions at a project database: their pids, sorted
sub sessions
{
	my ($node, $db) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') FROM pg_stat_activity"
		  . " WHERE application_name = 'supamon' AND datname = '$db'");
}

sub check
{
	my ($ret, $out, $err) = $central->psql('postgres', 'SELECT supamon_check_health()');
	return ($ret, $err);
}

sub reachable
{
	my ($name) = @_;
	return $central->safe_psql('postgres', "SELECT reachable FROM supamon.project WHERE name = '$name'");
}

# --- one backend per project, the same across checks
my ($ret, $err) = check();
is($ret, 0, 'a check runs') or diag($err);
my %first = map { $_ => sessions($fleet, $_) } qw(a b c);
like($first{$_}, qr/^\d+$/, "project $_: one supamon session after the check") for qw(a b c);
like(sessions($other, 'postgres'), qr/^\d+$/, 'the other server: one session too');
check() for 1 .. 4;
is(sessions($fleet, $_), $first{$_}, "project $_: the same backend after four more checks") for qw(a b c);
is($central->safe_psql('postgres', "SELECT count(*) FROM supamon.project WHERE reachable"),
	'4', 'every project reachable');

# --- runs in progress at one check and finished at the next: each project's
# own runs to read again go to the collector with its request (projects with
# none, one and several of them in one session)
my %open = (a => 1, b => 3, c => 0, o => 2);
sub project_node { return $_[0] eq 'o' ? ($other, 'postgres') : ($fleet, $_[0]); }
for my $p (sort keys %open)
{
	next unless $open{$p};
	my ($node, $db) = project_node($p);
	$node->safe_psql($db, "INSERT INTO cron.job_run_details (jobid, status, start_time)"
		  . " SELECT 2, 'running', now() - interval '10 seconds' FROM generate_series(1, $open{$p})");
}
check();
is($central->safe_psql('postgres',
		"SELECT string_agg(name || ':' || cardinality(open_run_ids), ',' ORDER BY name) FROM supamon.project"),
	'a:1,b:3,c:0,o:2', 'each project remembers its runs in progress');
for my $p (sort keys %open)
{
	my ($node, $db) = project_node($p);
	$node->safe_psql($db, "UPDATE cron.job_run_details SET status = 'succeeded', return_message = '1 row',"
		  . " end_time = now() WHERE status = 'running'");
}
check();
is($central->safe_psql('postgres',
		"SELECT string_agg(project_name || ':' || n, ',' ORDER BY project_name) FROM"
		  . " (SELECT project_name, count(*) AS n FROM supamon.job_health_log"
		  . "  WHERE job_name = 'often' AND run_id IS NOT NULL GROUP BY 1) l"),
	'a:1,b:3,o:2', 'once finished, each is read again and logged, in its own project');
is($central->safe_psql('postgres',
		"SELECT string_agg(name || ':' || cardinality(open_run_ids), ',' ORDER BY name) FROM supamon.project"),
	'a:0,b:0,c:0,o:0', 'and none is left to read again');
is(sessions($fleet, $_), $first{$_}, "project $_: still its first backend") for qw(a b c);

# --- a project restarted between checks: reconnected, never unreachable
my $before = sessions($other, 'postgres');
$other->restart;
my $alerts_before = $central->safe_psql('postgres', 'SELECT count(*) FROM supamon.alert_outbox');
($ret, $err) = check();
is($ret, 0, 'the check after a restart runs') or diag($err);
is(reachable('o'), 't', 'the restarted project is reachable at the first check after');
my $after = sessions($other, 'postgres');
like($after, qr/^\d+$/, 'one new session');
isnt($after, $before, 'over a new connection');
is($central->safe_psql('postgres',
		"SELECT count(*) FROM supamon.job_health_log WHERE project_name = 'o' AND status = 'unreachable'"),
	'0', 'no unreachable in its history');
is($central->safe_psql('postgres', 'SELECT count(*) FROM supamon.alert_outbox'),
	$alerts_before, 'and no alert');

# --- a connection dropped mid-check fails only its project
$fleet->safe_psql('b', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT j.* FROM cron.job_t j, pg_sleep(3);
});
my $bg = $central->background_psql('postgres');
$bg->query_until(qr/started/, q{\echo started
SELECT supamon_check_health();
});
ok($fleet->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = 'b' AND application_name = 'supamon'"
		  . " AND wait_event = 'PgSleep'"),
	'project b is answering slowly');
$fleet->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'b' AND application_name = 'supamon'");
$bg->quit;
is(reachable('b'), 'f', 'b, whose connection dropped, is unreachable');
like($central->safe_psql('postgres', "SELECT last_error FROM supamon.project WHERE name = 'b'"),
	qr/terminat|closed the connection/, 'with why');
is($central->safe_psql('postgres', "SELECT string_agg(name, ',' ORDER BY name) FROM supamon.project WHERE reachable"),
	'a,c,o', 'every other project is still read');
is(sessions($fleet, $_), $first{$_}, "project $_ kept its connection") for qw(a c);
$fleet->safe_psql('b', q{
DROP VIEW cron.job;
ALTER TABLE cron.job_t RENAME TO job;
});
($ret, $err) = check();
is(reachable('b'), 't', 'b is reachable again at the next check');
like(sessions($fleet, 'b'), qr/^\d+$/, 'over one new connection');

# --- a changed conninfo: the old connection is not reused
my $b_before = sessions($fleet, 'b');
$central->safe_psql('postgres',
	"SELECT supamon_set_conninfo('b', '" . project_connstr($fleet, 'b') . " connect_timeout=7')");
check();
my $b_after = sessions($fleet, 'b');
like($b_after, qr/^\d+$/, 'b: one session after its conninfo changed');
isnt($b_after, $b_before, 'a new one');

# --- a cancelled check: the collector drops its session and serves the next
$fleet->safe_psql('c', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT j.* FROM cron.job_t j, pg_sleep(30);
});
my $t0 = time;
my ($cret, $cout, $cerr) = $central->psql('postgres', 'SET statement_timeout = 1500; SELECT supamon_check_health()');
my $took = time - $t0;
like($cerr, qr/statement timeout/, 'statement_timeout ends a check waiting on the collector');
cmp_ok($took, '<', 5, sprintf('at once (%.1f s)', $took));
ok($fleet->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 'c' AND application_name = 'supamon' AND state = 'active'"),
	'the slow project\'s query is no longer waited for (its connection closed)');
$fleet->safe_psql('c', q{
DROP VIEW cron.job;
ALTER TABLE cron.job_t RENAME TO job;
});
($ret, $err) = check();
is($ret, 0, 'the next check runs') or diag($err);
is($central->safe_psql('postgres', 'SELECT count(*) FROM supamon.project WHERE reachable'),
	'4', 'and reads every project');

# --- supamon_remove_project closes its connection
like(sessions($fleet, 'a'), qr/^\d+$/, 'a has its session');
$central->safe_psql('postgres', "SELECT supamon_remove_project('a')");
ok($fleet->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 'a' AND application_name = 'supamon'"),
	'removing a closes its connection');
like(sessions($fleet, 'c'), qr/^\d+$/, 'the others keep theirs');

# --- the collector's memory: flat over many checks
sub collector_rss
{
	my $pid = $central->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'supamon collector'");
	open(my $fh, '<', "/proc/$pid/status") or return undef;
	my $text = do { local $/; <$fh> };
	close $fh;
	return $text =~ /^VmRSS:\s+(\d+)/m ? $1 : undef;
}
check() for 1 .. 20;
my $rss1 = collector_rss();
ok(defined $rss1, 'the collector runs') or diag('no collector process found');
$central->safe_psql('postgres', 'DO $$ BEGIN FOR i IN 1..300 LOOP PERFORM supamon_check_health(); END LOOP; END $$');
my $rss2 = collector_rss();
cmp_ok($rss2 // 1e9, '<', ($rss1 // 0) + 1024, "collector memory after 300 more checks: ${rss1} kB, then ${\($rss2 // '?')} kB");
is(sessions($fleet, 'c'), sessions($fleet, 'c'), 'still one session for c');

# --- idle connections close after the limit
$central->safe_psql('postgres', "ALTER SYSTEM SET supamon.idle_connection_timeout = '2s'");
$central->reload;
sleep 0.5;
check();
like(sessions($fleet, 'c'), qr/^\d+$/, 'c has its session right after a check');
ok($fleet->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'supamon'"),
	'every connection closed once idle past the limit');
ok($other->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'supamon'"),
	'on the other server too');
($ret, $err) = check();
is($central->safe_psql('postgres', 'SELECT count(*) FROM supamon.project WHERE reachable'),
	'3', 'the next check reconnects');

# --- 0: nothing kept
$central->safe_psql('postgres', "ALTER SYSTEM SET supamon.idle_connection_timeout = 0");
$central->reload;
sleep 0.5;
check();
ok($fleet->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'supamon'"),
	'with supamon.idle_connection_timeout = 0 no connection outlives its check');

done_testing();
