# Attacks on 793a389 (recording in the collection loop with a 100 ms lock
# limit, a 20 ms turn and a backlog of 32).
#
# A user's transaction holds every row of supamon.project (SELECT ... FOR
# UPDATE, what an admin does in psql) for 400 ms while a check of 60 quick
# projects starts.  The first recording in the loop gives up after 100 ms
# (lock timeout), streaming stops, and the rest is recorded after the
# collection, once the user's transaction has ended.  The check must end
# soon after the 400 ms, like the same check without the lock: nothing in
# flight, nothing to wait for.
#
# With the collector (preloaded) the lock wait consumes the latch the
# collector set when it sent the remaining answers; stream_turn returns
# without setting it again after the lock timeout, so the check sleeps
# RELAY_POLL_MS (1 s) with the answers already in its queue.
#
# Also: the summary's counts and the projects' state after such a check are
# the same as after a check without the lock (no project counted twice or
# lost, no false unreachable, no alert queued); two checks at once; a
# statement_timeout while recordings wait; 41 projects with Edge Functions
# (more than the backlog of 32) whose Management API answers after 1 s, and
# with it a database that answers after 1 s: nothing lost, no sum of costs.
#
# Status: passes at 793a389 (about 50 s).  The RELAY_POLL_MS stall guessed
# above does not happen: the lock_timeout's SIGALRM handler sets the latch.
# Checks at once are serialized before their collections (the second waits
# for the first), so in-loop recording orders cannot deadlock.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time sleep);
use lib 'test/perl';
use SupamonTest;
use Receiver;

my $NPROJ = 60;

my $fleet = PostgreSQL::Test::Cluster->new('fleet');
$fleet->init;
$fleet->append_conf('postgresql.conf', qq{
listen_addresses = '127.0.0.1'
max_connections = 150
});
$fleet->start;
# a database of one job (pa_job) with one finished run
sub one_job_database
{
	my ($db) = @_;
	$fleet->safe_psql('postgres', "CREATE DATABASE $db");
	$fleet->safe_psql($db, cron_tables_sql());
	$fleet->safe_psql($db, q{
INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 3 * * *', 'SELECT 1', 'pa_job');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', now() - interval '2 minutes', now() - interval '119 seconds');
});
}
one_job_database('pa');

sub central
{
	my ($name, $preload) = @_;
	my $c = central_with_closed_channel($name, $preload, "log_min_messages = debug1\n");
	my $cs = project_connstr($fleet, 'pa');
	$c->safe_psql('postgres', join ";\n",
		map { sprintf("SELECT supamon_add_project('p%02d', '%s')", $_, $cs) } 1 .. $NPROJ);
	return $c;
}

sub state
{
	my ($c) = @_;
	return $c->safe_psql('postgres',
		"SELECT string_agg(name || '=' || reachable || ':' || coalesce(last_error, ''), ',' ORDER BY name) FROM supamon.project");
}

sub strip { my ($j) = @_; $j =~ s/, "checked_at": "[^"]*"//; return $j; }

sub timed_check
{
	my ($c) = @_;
	my $t0 = time;
	my $out = $c->safe_psql('postgres', 'SELECT supamon_check_health()');
	return ($out, time - $t0);
}

for my $mode ([ 'plain', 0 ], [ 'pooled', 1 ])
{
	my ($name, $preload) = @$mode;
	my $c = central($name, $preload);

	my ($first) = timed_check($c);
	like($first, qr/"unreachable_projects": 0/, "$name: the fleet is reachable");
	my ($base, $base_t) = timed_check($c);
	my ($base2, $base_t2) = timed_check($c);
	$base_t = $base_t2 if $base_t2 > $base_t;
	note sprintf("%s: check without a lock: %.3f s: %s", $name, $base_t, $base);
	my $alerts0 = $c->safe_psql('postgres', 'SELECT count(*) FROM supamon.alert_outbox');

	my @over;
	for my $try (1 .. 3)
	{
		my $user = $c->background_psql('postgres');
		$user->query_safe('BEGIN');
		$user->query_safe('SELECT count(*) FROM (SELECT 1 FROM supamon.project FOR UPDATE) s');
		my ($out, $err) = ('', '');
		my $t0 = time;
		my $h = IPC::Run::start(
			[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $c->connstr('postgres'),
			  '-c', 'SELECT supamon_check_health()' ],
			'>', \$out, '2>', \$err);
		sleep 0.4;
		$user->query_safe('COMMIT');
		my $released = time - $t0;
		$user->quit;
		$h->finish;
		my $took = time - $t0;
		chomp $out;
		note sprintf("%s try %d: lock released at %.3f s, check ended at %.3f s: %s %s",
			$name, $try, $released, $took, $out, $err);
		is($err, '', "$name try $try: no error");
		is(strip($out), strip($base), "$name try $try: the summary is the same as without the lock");
		push @over, $took - $released;
	}
	my @sorted = sort { $a <=> $b } @over;
	# the median of three: what is left once the user's lock is gone should
	# cost about a check (the end recording), not a 1 s poll for nothing
	cmp_ok($sorted[1], '<', $base_t + 0.5,
		sprintf("%s: the check ends soon after the lock is released (%.3f s after, vs a whole check %.3f s)",
			$name, $sorted[1], $base_t));
	like(state($c), qr/^(p\d\d=true:,)*p\d\d=true:$/, "$name: every project reachable, no error");
	is($c->safe_psql('postgres', 'SELECT count(*) FROM supamon.alert_outbox'), $alerts0,
		"$name: no alert queued by the locked checks");

	# --- two checks at once (pg_cron's and a user's): each records, in the
	# loop, the projects in the order their answers come, so each holds
	# rows of supamon.project the other will need; before 793a389 both
	# recorded in the same order (the fleet's) and the second waited for
	# the first.  Neither may fail.
	my @fails;
	for my $try (1 .. 4)
	{
		my @h;
		for my $k (0 .. 1)
		{
			my ($out, $err) = ('', '');
			push @h, [ IPC::Run::start(
				[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $c->connstr('postgres'),
				  '-c', 'SELECT supamon_check_health()' ],
				'>', \$out, '2>', \$err), \$out, \$err ];
		}
		for my $x (@h)
		{
			$x->[0]->finish;
			chomp(my $e = ${ $x->[2] });
			note "$name concurrent try $try: ${ $x->[1] } $e";
			push @fails, "try $try: $e" if $e ne '' || ${ $x->[1] } !~ /"unreachable_projects": 0/;
		}
	}
	is(join("\n", @fails), '', "$name: two concurrent checks both end without an error");

	# --- statement_timeout while the check's recordings wait for a user's
	# lock (in the loop: 100 ms then given up; then at the end): the
	# caller's timeout ends the check, nothing is left open, the next works
	{
		my $user = $c->background_psql('postgres');
		$user->query_safe('BEGIN');
		$user->query_safe('SELECT count(*) FROM (SELECT 1 FROM supamon.project FOR UPDATE) s');
		my ($ok, $out, $err) = $c->psql('postgres',
			"SET statement_timeout = '700ms'; SELECT supamon_check_health()");
		like($err, qr/canceling statement due to statement timeout/,
			"$name: statement_timeout ends a check whose recordings wait");
		$user->query_safe('COMMIT');
		$user->quit;
		if (!$preload)
		{
			ok($fleet->poll_query_until('postgres',
					"SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'supamon'"),
				"$name: no connection left open at the projects");
		}
		my ($after) = timed_check($c);
		is(strip($after), strip($base), "$name: the next check gives the same summary");
	}
	$c->stop;
}

# --- Edge Functions: 40 projects (more than the backlog of 32) whose
# databases answer at once and whose Management API answers after 1 s.
# The projects wait in the backlog for their functions; none may be
# recorded without them, none counted twice, and the check costs about the
# API's second, not more.
{
	my $r = Receiver->start;
	my $token = 'sbp_stream_v2_attack_0123456789abcdef';
	my %projects = map {
		(sprintf('r%02d', $_) => { status => 'ACTIVE_HEALTHY',
			functions => [ { slug => 'f1', version => 1 }, { slug => 'f2', version => 1 } ] })
	} 1 .. 41;
	one_job_database('pb');
	$r->api_state({ token => $token, projects => \%projects });
	for my $mode ([ 'edge-plain', 0 ], [ 'edge-pooled', 1 ])
	{
		my ($name, $preload) = @$mode;
		my $c = PostgreSQL::Test::Cluster->new($name);
		$c->init;
		$c->append_conf('postgresql.conf',
			($preload ? "shared_preload_libraries = 'supamon'\n" : '') . qq{
supamon.connect_timeout = 2000
supamon.query_timeout = 3000
supamon.http_timeout = 4000
supamon.supabase_access_token = '$token'
supamon.management_api_url = '@{[$r->api_url]}'
});
		$c->start;
		$c->safe_psql('postgres', 'CREATE EXTENSION supamon');
		my $cs = project_connstr($fleet, 'pa');
		$c->safe_psql('postgres', join ";\n",
			map { sprintf("SELECT supamon_add_project('e%02d', '%s', 'r%02d')", $_, $cs, $_) } 1 .. 40);
		# the last project: a database of its own (slowed below)
		$c->safe_psql('postgres', "SELECT supamon_add_project('e41', '@{[project_connstr($fleet, 'pb')]}', 'r41')");
		my ($first, $t_first) = timed_check($c);
		note sprintf("%s: first check %.3f s: %s", $name, $t_first, $first);
		
		my $n0 = $c->safe_psql('postgres', "SELECT count(*) FROM supamon.job_inventory WHERE job_type = 'edge_function' AND status <> 'removed'");
		is($n0, '82', "$name: every project's two functions inventoried");
		$r->control(sprintf('r%02d/functions', $_), [ { delay => 1.0 } ], 1) for 1 .. 41;
		my ($slow, $t_slow) = timed_check($c);
		$r->control(sprintf('r%02d/functions', $_), [], 0) for 1 .. 41;
		note sprintf("%s: check with a 1 s API: %.3f s: %s", $name, $t_slow, $slow);
		is(strip($slow), strip($first), "$name: same summary with a slow API");
		is($c->safe_psql('postgres', "SELECT count(*) FROM supamon.job_inventory WHERE job_type = 'edge_function' AND status <> 'removed'"),
			'82', "$name: after the slow API, still every function");
		cmp_ok($t_slow, '<', 1.0 + $t_first + 1.5, "$name: the slow API costs about its second");
		# the API takes 1 s and e41's database 1 s (a lock in it): both
		# should run at once; if the 32 projects waiting for their functions
		# kept e41's query from starting until the API has answered, it
		# would cost their sum
		{
			$r->control(sprintf('r%02d/functions', $_), [ { delay => 1.0 } ], 1) for 1 .. 41;
			my $hold = $fleet->background_psql('pb');
			$hold->query_safe('BEGIN');
			$hold->query_safe('LOCK TABLE cron.job IN ACCESS EXCLUSIVE MODE');
			my ($out, $err) = ('', '');
			my $t0 = time;
			my $h = IPC::Run::start(
				[ 'psql', '-X', '-At', '-d', $c->connstr('postgres'), '-c', 'SELECT supamon_check_health()' ],
				'>', \$out, '2>', \$err);
			sleep 1.0;
			$hold->query_safe('COMMIT');
			$hold->quit;
			$h->finish;
			my $took = time - $t0;
			$r->control(sprintf('r%02d/functions', $_), [], 0) for 1 .. 41;
			chomp $out;
			note sprintf("%s: API 1 s, e41's database 1 s: %.3f s: %s %s", $name, $took, $out, $err);
			is(strip($out), strip($first), "$name: API 1 s and a slow database: same summary");
			cmp_ok($took, '<', $t_slow + 0.6,
				"$name: a slow API and a slow database cost the slower of the two, not their sum");
		}
		note "$name: edge errors: " . $c->safe_psql('postgres',
			"SELECT string_agg(DISTINCT edge_error, ' | ') FROM supamon.project_status");
		note "$name: API requests: " . scalar(my @q = $r->requests);
		is($c->safe_psql('postgres',
			"SELECT count(*) FROM supamon.project_status WHERE coalesce(edge_error, '') <> ''"),
			'0', "$name: no project with an Edge Functions error");
		$c->stop;
	}
	$r->stop;
}

done_testing();
