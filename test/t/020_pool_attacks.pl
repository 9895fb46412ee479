# Attacks on the collector's kept connections (pool.c, remote.c at c1bf313).
#
# Written by an outside attack on c1bf313; its findings are fixed (a host
# rebooted between checks, kept connections leaked by an abandoned check,
# descriptors held by kept connections, a terminated check not dropped,
# notifications piling up, a dropped database's connections), and the
# attacks that held stay: answers of two databases' projects of the same
# name never mixed, 12 concurrent checks with the slots full, a project
# ending the idle session, SIGTERM to the collector mid-check, no password
# in the log.
#
# Clusters: "central" (supamon preloaded, max_files_per_process at its
# minimum, two databases with supamon) and "fleet" (the projects, also
# reached through a TCP proxy of this file that plays a project host that
# rebooted or a NAT that forgot idle connections).
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use lib 'test/perl';
use SupamonTest;

my $secret = 'Sup3rSecretPW';

my $central = PostgreSQL::Test::Cluster->new('central');
$central->init;
$central->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
max_files_per_process = 64
supamon.connect_timeout = 3000
supamon.query_timeout = 5000
});
$central->start;
$central->safe_psql('postgres', 'CREATE EXTENSION supamon');
$central->safe_psql('postgres', 'CREATE DATABASE central2');
$central->safe_psql('central2', 'CREATE EXTENSION supamon');

my $fleet = PostgreSQL::Test::Cluster->new('fleet');
$fleet->init;
$fleet->append_conf('postgresql.conf', qq{
listen_addresses = '127.0.0.1'
max_connections = 120
});
$fleet->start;

# A project database with pg_cron's tables and jobs named after it.
sub project_db
{
	my ($db) = @_;
	$fleet->safe_psql('postgres', "CREATE DATABASE $db");
	$fleet->safe_psql($db, cron_tables_sql() . qq{
INSERT INTO cron.job (schedule, command, jobname) VALUES
	('0 3 * * *', 'SELECT 1', '${db}_nightly'), ('*/5 * * * *', 'SELECT 2', '${db}_often');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', now() - interval '1 hour', now() - interval '1 hour');
});
}

# conninfo of a fleet database, with a password that must never be logged
sub conn
{
	my ($db) = @_;
	return project_connstr($fleet, $db) . " password=$secret";
}

sub add
{
	my ($cdb, $name, $conninfo) = @_;
	$central->safe_psql($cdb, "SELECT supamon_add_project('$name', '$conninfo')");
}

# supamon's sessions at a fleet database: how many
sub nsessions
{
	my ($db) = @_;
	return $fleet->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'supamon' AND datname = '$db'");
}

sub pids
{
	my ($db) = @_;
	return $fleet->safe_psql('postgres',
		"SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') FROM pg_stat_activity"
		  . " WHERE application_name = 'supamon' AND datname = '$db'");
}

# supamon_audit's rows: project => "reachable|jobs|error"
sub audit
{
	my ($cdb, $pre, $only) = @_;
	my $arg = defined $only ? "'$only'" : '';
	my ($ret, $out, $err) = $central->psql($cdb,
		($pre // '') . "SELECT project, reachable, jobs, coalesce(error, '') FROM supamon_audit($arg)");
	my %r;
	for my $line (split /\n/, $out)
	{
		my @f = split /\|/, $line, -1;
		$r{ $f[0] } = "$f[1]|$f[2]|$f[3]";
	}
	return (\%r, $err);
}

sub jobs_of
{
	my ($cdb, $name) = @_;
	return $central->safe_psql($cdb,
		"SELECT string_agg(job_name, ',' ORDER BY job_name) FROM supamon.job_inventory"
		  . " WHERE project_name = '$name' AND removed_at IS NULL");
}

sub collector_pid
{
	return $central->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'supamon collector'");
}

sub collector_rss
{
	my $pid = collector_pid();
	open(my $fh, '<', "/proc/$pid/status") or return undef;
	my $text = do { local $/; <$fh> };
	close $fh;
	return $text =~ /^VmRSS:\s+(\d+)/m ? $1 : undef;
}

# A poll of a few seconds (poll_query_until waits minutes).
sub poll_fleet
{
	my ($sql, $seconds) = @_;
	my $end = time + $seconds;
	while (time < $end)
	{
		return 1 if $fleet->safe_psql('postgres', $sql) eq 't';
		sleep 0.2;
	}
	return 0;
}

ok($central->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'supamon collector'"),
	'the collector runs');

project_db($_) for qw(a b c);

# =====================================================================
# 1. Two central databases, a project of the same name: never each
#    other's connection; concurrent checks of both never mix answers.
# =====================================================================
add('postgres', 'dup', conn('a'));
add('central2', 'dup', conn('b'));
add('postgres', 'same', conn('c'));
add('central2', 'same', conn('c'));
for (1 .. 2)
{
	audit('postgres');
	audit('central2');
}
is(jobs_of('postgres', 'dup'), 'a_nightly,a_often', 'db 1: "dup" is its own project (a)');
is(jobs_of('central2', 'dup'), 'b_nightly,b_often', 'db 2: "dup" is its own project (b)');
is(nsessions('c'), '2', 'the same conninfo in two databases: one kept connection each');
my $pids_c = pids('c');

{
	my @h;
	for my $i (1 .. 12)
	{
		my $db = $i % 2 ? 'postgres' : 'central2';
		my ($out, $err) = ('', '');
		push @h, [ $db, \$out, \$err, IPC::Run::start(
			[ 'psql', '-XAtq', '-d', $central->connstr($db), '-c',
			  "SELECT project || ':' || jobs || ':' || reachable FROM supamon_audit() ORDER BY 1" ],
			'>', \$out, '2>', \$err) ];
	}
	my $bad = 0;
	for my $x (@h)
	{
		$x->[3]->finish;
		$bad++ unless ${ $x->[1] } eq "dup:2:true\nsame:2:true\n" && ${ $x->[2] } eq '';
	}
	is($bad, 0, '12 concurrent audits of two databases (slots full): every answer right');
	is(jobs_of('postgres', 'dup') . ' ' . jobs_of('central2', 'dup'),
		'a_nightly,a_often b_nightly,b_often', 'and never the other database\'s project');
	is(pids('c'), $pids_c, 'the kept connections survived the crowd');
}

# 12 single-project audits at once (different rows, so not serialized by
# their locks), each project slow enough that the collector's 8 slots fill
# and sessions wait past the 2 s limit: the fallbacks and the collector's
# answers must land in the right project of the right database.
{
	for my $i (1 .. 6)
	{
		project_db("q$i");
		$fleet->safe_psql("q$i", q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT j.* FROM cron.job_t j, pg_sleep(0.4);
});
		add($_, "q$i", conn("q$i")) for qw(postgres central2);
	}
	my @h;
	for my $i (1 .. 6)
	{
		for my $db (qw(postgres central2))
		{
			my ($out, $err) = ('', '');
			push @h, [ \$out, \$err, IPC::Run::start(
				[ 'psql', '-XAtq', '-d', $central->connstr($db), '-c',
				  "SELECT project || ':' || jobs || ':' || reachable FROM supamon_audit('q$i')" ],
				'>', \$out, '2>', \$err), "q$i:2:true\n" ];
		}
	}
	my $bad = 0;
	for my $x (@h)
	{
		$x->[2]->finish;
		$bad++ unless ${ $x->[0] } eq $x->[3] && ${ $x->[1] } eq '';
	}
	is($bad, 0, '12 concurrent single-project audits, slots full: every answer right');
	my $wrong = '';
	for my $db (qw(postgres central2))
	{
		for my $i (1 .. 6)
		{
			my $j = jobs_of($db, "q$i");
			$wrong .= "$db/q$i=$j " unless $j eq "q${i}_nightly,q${i}_often";
		}
	}
	is($wrong, '', 'each database\'s inventory holds each project\'s own jobs');
	$central->safe_psql($_, join('', map { "SELECT supamon_remove_project('q$_');" } 1 .. 6))
	  for qw(postgres central2);
}

# the project ends supamon's idle session (pg_terminate_backend,
# idle_session_timeout): replaced before the query, no false alarm
{
	my $apid = pids('a');
	$fleet->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'a' AND application_name = 'supamon'");
	my ($r) = audit('postgres');
	is($r->{dup}, 't|2|', 'a project that ended the idle kept session is reachable at the next check');
	like(pids('a'), qr/^\d+$/, 'over one new connection');
	isnt(pids('a'), $apid, 'not the old one');
}

# =====================================================================
# 2. Head-of-line blocking: a hung project in one database holds every
#    other database's check queued behind it.
# =====================================================================
my $portfile = "$PostgreSQL::Test::Utils::tmp_check/hung.port";
my $hung = IPC::Run::start([ $^X, 'test/hung_listener.pl', $portfile, 120 ]);
for (1 .. 100) { last if -s $portfile; sleep 0.1; }
chomp(my $hung_port = slurp_file($portfile));
add('postgres', 'hung', "host=127.0.0.1 port=$hung_port dbname=postgres password=$secret");
{
	my ($out, $err) = ('', '');
	my $bg = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $central->connstr('postgres'), '-c', "SELECT count(*) FROM supamon_audit('hung')" ],
		'>', \$out, '2>', \$err);
	sleep 0.5;
	my $t0 = time;
	my ($r) = audit('central2');
	my $took = time - $t0;
	is($r->{dup}, 't|2|', 'db 2 is read while db 1 waits on a hung project');
	# One collector serves one check at a time: another database's check
	# waits 2 s at most, then reads its projects itself (a limitation the
	# README states).
	cmp_ok($took, '<', 3,
		sprintf('head-of-line: db 2\'s check is held 2 s at most behind db 1\'s hung project (took %.1f s)', $took));
	$bg->finish;
}
$central->safe_psql('postgres', "SELECT supamon_remove_project('hung')");

# A check terminated while the collector waits on its slow project: the
# collector should drop the session at once, as for a cancelled check.
project_db('s');
$fleet->safe_psql('s', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT j.* FROM cron.job_t j, pg_sleep(6);
});
add('postgres', 's', conn('s'));
project_db('t2');
add('postgres', 't2', conn('t2'));
audit('postgres', undef, 't2');
{
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $central->connstr('postgres'), '-c', "SELECT count(*) FROM supamon_audit('s')" ],
		'>', \$o, '2>', \$e);
	ok(poll_fleet("SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = 's' AND application_name = 'supamon' AND wait_event = 'PgSleep'", 5),
		'the collector is reading the slow project s');
	$central->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%supamon_audit(''s'')%' AND pid <> pg_backend_pid()");
	$h->finish;
	# Closing a connection does not stop the project's backend in its
	# sleep; what matters is that the collector is free at once: the next
	# check is served by it (over the kept connection), not after 2 s.
	my $kept = pids('t2');
	my $t0 = time;
	my ($r) = audit('postgres', undef, 't2');
	my $took = time - $t0;
	is($r->{t2}, 't|2|', 'the next check reads its project');
	ok($took < 1.5 && pids('t2') eq $kept,
		sprintf('a terminated check: the collector drops its session at once and serves the next (%.1f s, kept connection %s)',
			$took, pids('t2') eq $kept ? 'reused' : 'not reused'));
	# (let the collector finish it before going on)
	poll_fleet("SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 's' AND application_name = 'supamon'", 8);
	sleep 0.5;
}
$central->safe_psql('postgres', "SELECT supamon_remove_project('s')");
$central->safe_psql('postgres', "SELECT supamon_remove_project('t2')");

# =====================================================================
# 3. A project's host rebooted / a NAT forgot the idle connection
#    between checks: a fresh connection works, the kept one is dead but
#    looks idle.  Must not be "unreachable".
# =====================================================================
my $ctl = "$PostgreSQL::Test::Utils::tmp_check/proxy.ctl";
my $proxy_port;
my $proxy_pid;
{
	open my $f, '>', $ctl or die; print $f "0 none\n"; close $f;
	my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
		Listen => 64, ReuseAddr => 1) or die "listen: $!";
	$proxy_port = $listen->sockport;
	$proxy_pid = fork();
	die "fork: $!" unless defined $proxy_pid;
	if ($proxy_pid == 0)
	{
		eval { proxy_loop($listen) };
		POSIX::_exit(0);
	}
	close $listen;
}

sub proxy_loop
{
	my ($listen) = @_;
	{
		# generation N of the control file: connections accepted before it
		# are reset on their next byte from the client ("reset": the host
		# rebooted, its kernel answers RST) or swallowed ("drop": a NAT
		# forgot them); newer ones pass.
		my (%peer, %gen, %client);
		my $sel = IO::Select->new($listen);
		my ($cut, $mode) = (0, 'none');
		my $end = time + 300;
		while (time < $end)
		{
			if (open my $f, '<', $ctl)
			{
				my $l = <$f>;
				close $f;
				($cut, $mode) = split ' ', $l if defined $l && $l =~ /^\d+ \w+/;
			}
			for my $s ($sel->can_read(0.05))
			{
				if ($s == $listen)
				{
					my $c = $listen->accept or next;
					my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $fleet->port)
					  or do { close $c; next };
					$peer{$c} = $u; $peer{$u} = $c;
					$gen{$c} = $gen{$u} = $cut;
					$client{$c} = 1;
					$sel->add($c, $u);
					next;
				}
				my $p = $peer{$s} or next;
				my $buf;
				my $n = sysread($s, $buf, 65536);
				my $stale = $gen{$s} < $cut;
				if (!$n || ($stale && $mode eq 'reset' && $client{$s}))
				{
					setsockopt($_, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)) for ($s, $p);
					$sel->remove($s, $p);
					delete @peer{ $s, $p };
					close $s; close $p;
					next;
				}
				next if $stale && $mode eq 'drop';
				syswrite($p, $buf);
			}
		}
	}
}
sub proxy_mode
{
	my ($line) = @_;
	open my $f, '>', "$ctl.tmp" or die; print $f "$line\n"; close $f;
	rename "$ctl.tmp", $ctl or die;
	sleep 0.3;
}
project_db('px');
add('postgres', 'px', "host=127.0.0.1 port=$proxy_port dbname=px password=$secret");
my ($r) = audit('postgres', undef, 'px');
is($r->{px}, 't|2|', 'px (through the proxy) is read');
is(nsessions('px'), '1', 'and its connection kept');

proxy_mode('1 reset');
($r) = audit('postgres', undef, 'px');
is($r->{px}, 't|2|',
	'px\'s host rebooted between checks (old connection reset at its first byte): reachable, not a false "unreachable"')
  or diag("audit said: $r->{px}");

audit('postgres', undef, 'px');    # a fresh connection again
proxy_mode('2 drop');
my $t0 = time;
($r) = audit('postgres', 'SET supamon.query_timeout = 2000; ', 'px');
my $took = time - $t0;
# A real NAT that forgot a flow drops its packets: nothing acknowledges the
# query, tcp_user_timeout (set by supamon) fails the connection and it is
# replaced.  This proxy acknowledges and swallows, which no client can tell
# from a project that hangs: that check fails as for a hung project, and
# the next one reconnects.
like($r->{px}, qr/^f\|\|no answer within/, 'a flow swallowed whole looks like a hung project')
  or diag(sprintf('audit said: %s (after %.1f s)', $r->{px}, $took));
($r) = audit('postgres', 'SET supamon.query_timeout = 2000; ', 'px');
is($r->{px}, 't|2|', 'and the next check reconnects');
proxy_mode('3 none');
$central->safe_psql('postgres', "SELECT supamon_remove_project('px')");

# =====================================================================
# 4. Descriptors: max_files_per_process at its minimum (PostgreSQL's own
#    budget for sockets about 16), 20 projects (see 10 for a collector
#    that can keep only a few).
# =====================================================================
project_db('fd');
$central->safe_psql('postgres',
	join('', map { "SELECT supamon_add_project('fd$_', '" . conn('fd') . "');" } 1 .. 20));
my $log_offset = -s $central->logfile;
($r) = audit('postgres');
is(scalar(grep { /^fd/ && $r->{$_} eq 't|2|' } keys %$r), 20, '20 projects, few descriptors: all read');
my $log = slurp_file($central->logfile, $log_offset);
unlike($log, qr/a check's session failed/,
	'the collector\'s session does not fail for want of descriptors its own kept connections hold')
  or diag(join("\n", grep { /session failed/ } split /\n/, $log));
$central->safe_psql('postgres', join('', map { "SELECT supamon_remove_project('fd$_');" } 1 .. 20));
ok(poll_fleet("SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 'fd' AND application_name = 'supamon'", 5),
	'removed projects: their connections closed');

# =====================================================================
# 5. An abandoned session (statement_timeout) while some of its kept
#    connections were lent but not yet used: they must be closed or kept,
#    never leaked.
# =====================================================================
project_db($_) for qw(l1 l2 l3);
add('postgres', $_, conn($_)) for qw(l1 l2 l3);
audit('postgres');
is(join(',', map { nsessions($_) } qw(l1 l2 l3)), '1,1,1', 'l1, l2, l3: one kept connection each');
$fleet->safe_psql('l1', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT j.* FROM cron.job_t j, pg_sleep(20);
});
my ($ret, $out, $err) = $central->psql('postgres',
	'SET supamon.max_connections = 1; SET statement_timeout = 1500; SELECT count(*) FROM supamon_audit()');
like($err, qr/statement timeout/, 'the check ends at its statement_timeout');
ok(poll_fleet("SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 'l1' AND application_name = 'supamon'", 5),
	'the slow project\'s connection is closed');
$fleet->safe_psql('l1', 'DROP VIEW cron.job; ALTER TABLE cron.job_t RENAME TO job;');
audit('postgres');
is(join(',', map { nsessions($_) } qw(l2 l3)), '1,1',
	'after an abandoned session and one more check, l2 and l3 still have one connection each (none leaked)');
$central->safe_psql('postgres', "SELECT supamon_remove_project('$_')") for qw(l1 l2 l3);
ok(poll_fleet("SELECT count(*) = 0 FROM pg_stat_activity WHERE datname IN ('l2', 'l3') AND application_name = 'supamon'", 3),
	'removed projects leave no connection behind (the leaked ones stay open for ever)');

# =====================================================================
# 6. A hostile project makes supamon's session LISTEN and notifies it:
#    libpq keeps every notification of a kept connection until PQfinish.
# =====================================================================
project_db('h');
$fleet->safe_psql('h', q{
CREATE FUNCTION public.noisy() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'LISTEN x';
	FOR i IN 1 .. 5 LOOP
		PERFORM pg_notify('x', i || ' ' || clock_timestamp() || repeat('n', 7900));
	END LOOP;
	RETURN 1;
END $$;
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT j.* FROM cron.job_t j, public.noisy() n;
});
add('postgres', 'h', conn('h'));
$central->safe_psql('postgres', q{DO $$ BEGIN FOR i IN 1..10 LOOP PERFORM supamon_audit('h'); END LOOP; END $$});
my $hpid = pids('h');
my $rss1 = collector_rss();
$central->safe_psql('postgres', q{DO $$ BEGIN FOR i IN 1..200 LOOP PERFORM supamon_audit('h'); END LOOP; END $$});
my $rss2 = collector_rss();
diag('the hostile project\'s connection was ' . (pids('h') eq $hpid ? '' : 'not ') . 'kept across the 200 checks');
cmp_ok($rss2 - $rss1, '<', 3000,
	"a project's notifications do not pile up in the collector (RSS $rss1 kB, then $rss2 kB after 200 checks)");
$central->safe_psql('postgres', "SELECT supamon_remove_project('h')");

# =====================================================================
# 7. The central database dropped while its connections are kept.
# =====================================================================
audit('central2');
is(nsessions('b'), '1', 'db 2\'s project "dup" has its kept connection');
$central->safe_psql('postgres', 'DROP DATABASE central2');
ok(poll_fleet("SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 'b' AND application_name = 'supamon'", 15),
	'the dropped database\'s kept connections are closed within 10 s (not left for idle_connection_timeout)');

# =====================================================================
# 8. The collector stopped (SIGTERM) while serving: the check finishes on
#    its own with the right answers; the collector comes back and keeps.
# =====================================================================
project_db('k');
$fleet->safe_psql('k', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT j.* FROM cron.job_t j, pg_sleep(1.5);
});
add('postgres', 'k', conn('k'));
{
	my ($o, $e) = ('', '');
	my $old = collector_pid();
	my $bg = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $central->connstr('postgres'), '-c',
		  "SELECT project || ':' || jobs || ':' || reachable FROM supamon_audit() ORDER BY 1" ],
		'>', \$o, '2>', \$e);
	ok(poll_fleet("SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = 'k' AND application_name = 'supamon' AND wait_event = 'PgSleep'", 5),
		'the collector is reading k');
	kill 'TERM', $old;
	$bg->finish;
	is("$o|$e", "dup:2:true\nk:2:true\nsame:2:true\n|", 'SIGTERM to the collector mid-check: the check ends on its own, every answer right');
	ok($central->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'supamon collector' AND pid <> $old"),
		'the collector comes back');
	audit('postgres');
	my $kp = pids('k');
	audit('postgres');
	is(pids('k'), $kp, 'and keeps connections again');
}

# =====================================================================
# 9. Secrets
# =====================================================================
# (the test's own statements, logged by log_statement = all, aside)
unlike(join("\n", grep { !/statement: / } split /\n/, slurp_file($central->logfile)), qr/$secret/,
	'no conninfo password in the central server\'s log');

# =====================================================================
# 10. Few descriptors: the collector raises its own limit as far as the hard
#     limit allows; lowered here (prlimit on the postmaster, inherited by
#     the collector restarted after it), it can keep only a few connections,
#     and a fleet larger than that is still read, least recently used
#     connections closed first.
# =====================================================================
SKIP:
{
	skip 'no prlimit', 5 unless system('prlimit --version >/dev/null 2>&1') == 0;
	system('prlimit', '--pid=' . $central->{_pid}, '--nofile=140:140') == 0 or die 'prlimit';
	my $offset = -s $central->logfile;
	my $old = collector_pid();
	$central->safe_psql('postgres', "SELECT pg_terminate_backend($old)");
	ok($central->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'supamon collector' AND pid <> $old"),
		'the collector is back under the lower limit');
	my ($budget) = slurp_file($central->logfile, $offset) =~ /up to (\d+) project connections kept open/;
	ok(defined $budget && $budget < 60, 'it says how many it may keep: ' . ($budget // '?'));
	$budget //= 20;
	my $n = $budget + 6;
	$central->safe_psql('postgres', 'UPDATE supamon.project SET enabled = false');
	$central->safe_psql('postgres',
		join('', map { "SELECT supamon_add_project('fd$_', '" . conn('fd') . "');" } 1 .. $n));
	my $log_offset = -s $central->logfile;
	my @read;
	for (1 .. 2)
	{
		my ($r) = audit('postgres');
		push @read, scalar(grep { /^fd/ && $r->{$_} eq 't|2|' } keys %$r);
	}
	is(join(',', @read), "$n,$n", "$n projects on $budget connections: all read, twice");
	unlike(slurp_file($central->logfile, $log_offset), qr/session failed|no file descriptor/,
		'no session fails for want of descriptors its own kept connections hold');
	# (a connection just closed leaves the project's pg_stat_activity a moment later)
	ok(poll_fleet("SELECT count(*) <= $budget FROM pg_stat_activity WHERE datname = 'fd' AND application_name = 'supamon'", 5),
		'no more connections kept than it may');
}

kill 'TERM', $proxy_pid;
waitpid($proxy_pid, 0);
$hung->kill_kill;
done_testing();
