# remote.c under pressure: a central server short of file descriptors, a
# project whose answer is huge, a connection string broken behind supamon's
# back, and connection strings whose passwords libpq repeats in its errors.
#
# Clusters: "central" (supamon, max_files_per_process at its minimum) and
# "fleet" (20 project databases with hand-written cron tables, and one whose
# cron.job answers with three 30 MB job names).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use lib 'test/perl';
use SupamonTest;

my $central = PostgreSQL::Test::Cluster->new('central');
$central->init(extra => ['--encoding=UTF8', '--locale=C']);
$central->append_conf('postgresql.conf', qq{
max_files_per_process = 64
supamon.connect_timeout = 5000
supamon.query_timeout = 20000
});
$central->start;
$central->safe_psql('postgres', 'CREATE EXTENSION supamon');

my $fleet = PostgreSQL::Test::Cluster->new('fleet');
$fleet->init;
$fleet->append_conf('postgresql.conf', "max_connections = 60\n");
$fleet->start;

# 20 projects, copies of one template: pg_cron's tables, two jobs, one run.
$fleet->safe_psql('postgres', 'CREATE DATABASE tmpl');
$fleet->safe_psql('tmpl', cron_tables_sql() . q{
INSERT INTO cron.job (schedule, command, jobname) VALUES
	('0 3 * * *', 'SELECT 1', 'nightly'), ('*/5 * * * *', 'SELECT 2', 'often');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
VALUES (1, 'succeeded', '1 row', now() - interval '1 hour', now() - interval '1 hour');
});
my $adds = '';
for my $i (1 .. 20)
{
	$fleet->safe_psql('postgres', "CREATE DATABASE p$i TEMPLATE tmpl");
	$adds .= "SELECT supamon_add_project('p$i', '" . project_connstr($fleet, "p$i") . "');\n";
}
$central->safe_psql('postgres', $adds);

# The audit's rows, by project.
sub audit
{
	my ($settings) = @_;
	my ($ret, $out, $err) = $central->psql('postgres',
		($settings // '') . "SELECT project, reachable, jobs, coalesce(error, '') FROM supamon_audit()");
	my %r;
	for my $line (split /\n/, $out)
	{
		my @f = split /\|/, $line, -1;
		$r{ $f[0] } = { reachable => $f[1], jobs => $f[2], error => $f[3] };
	}
	return (\%r, $err);
}

# --- descriptors: 20 projects, a server allowed about 16 connections
for my $limit (16, 20)
{
	my ($r, $err) = audit("SET supamon.max_connections = $limit; ");
	is($err, '', "max_files_per_process = 64, supamon.max_connections = $limit: the audit raises nothing");
	is(scalar(grep { $r->{$_}{reachable} eq 't' && $r->{$_}{jobs} == 2 } keys %$r), 20,
		"all 20 projects reachable, with their jobs");
	is(join(',', map { "$_: $r->{$_}{error}" } sort grep { $r->{$_}{error} ne '' } keys %$r), '',
		'no error for any of them');
}

# More projects than descriptors: those that find none wait for one, so 20
# projects answering after 1 s take two rounds, and all are read.
for my $i (1 .. 20)
{
	$fleet->safe_psql("p$i", q{ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS SELECT j.* FROM cron.job_t j, pg_sleep(1);});
}
{
	my $t0 = time;
	my ($r, $err) = audit('SET supamon.max_connections = 20; ');
	my $took = time - $t0;
	is(scalar(grep { $r->{$_}{reachable} eq 't' } keys %$r) . " $err", '20 ',
		'20 slow projects, fewer descriptors: all read');
	cmp_ok($took, '>=', 2, sprintf('in two rounds (%.1f s): the ones without a descriptor waited', $took));
}
for my $i (1 .. 20)
{
	$fleet->safe_psql("p$i", 'DROP VIEW cron.job; ALTER TABLE cron.job_t RENAME TO job;');
}

# Descriptors all taken (by dblink connections of the same session): an
# ERROR that says so, not 20 projects falsely unreachable; with two free (the
# wait and one connection), every project is read, one at a time.
{
	my $session = $central->background_psql('postgres', on_error_stop => 0);
	my $connstr = project_connstr($fleet, 'p1');
	$session->query_safe(qq{CREATE EXTENSION dblink;
CREATE FUNCTION pg_temp.take_all() RETURNS int LANGUAGE plpgsql AS \$\$
DECLARE i int := 0;
BEGIN
	LOOP
		BEGIN
			PERFORM dblink_connect('c' || i, '$connstr');
		EXCEPTION WHEN others THEN
			RETURN i;
		END;
		i := i + 1;
	END LOOP;
END \$\$;});
	my $taken = $session->query_safe('SELECT pg_temp.take_all()');
	my ($out, $failed) = $session->query('SELECT count(*) FROM supamon_audit()');
	like($session->{stderr}, qr/no file descriptor is free to wait for projects/,
		"with all $taken descriptors taken: an ERROR saying so");
	$session->{stderr} = '';
	$session->query_safe("SELECT dblink_disconnect('c0')");
	($out, $failed) = $session->query('SELECT count(*) FROM supamon_audit()');
	like($session->{stderr}, qr/no file descriptor is free to connect to a project/,
		'with one free, for the wait but no connection: an ERROR saying so');
	$session->{stderr} = '';
	$session->query_safe("SELECT dblink_disconnect('c1')");
	is($session->query_safe('SELECT count(*) FILTER (WHERE reachable) FROM supamon_audit()'), '20',
		'with two free: all 20 read, one at a time');
	$session->quit;
}

# --- a huge answer: 3,000 jobs with 10,000-character commands (what the
# collector reads of each; three 30 MB job names beside them are cut on the
# project's side)
$fleet->safe_psql('postgres', 'CREATE DATABASE huge TEMPLATE tmpl');
$fleet->safe_psql('huge', q{
ALTER TABLE cron.job RENAME TO job_t;
CREATE VIEW cron.job AS
	SELECT g::bigint AS jobid, '* * * * *'::text AS schedule, repeat('x', 20000) AS command,
		'localhost'::text AS nodename, 5432 AS nodeport, 'postgres'::text AS database,
		'postgres'::text AS username, true AS active,
		CASE WHEN g <= 3 THEN repeat('x', 30 * 1024 * 1024) ELSE 'job ' || g END AS jobname
	FROM generate_series(1, 3000) g;
});
$central->safe_psql('postgres',
	"SELECT supamon_add_project('huge', '" . project_connstr($fleet, 'huge') . "')");
{
	my $session = $central->background_psql('postgres');
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	my $hwm = sub {
		my ($kb) = slurp_file("/proc/$pid/status") =~ /^VmHWM:\s+(\d+) kB/m;
		return $kb / 1024;
	};
	my $before = $hwm->();
	my $out = $session->query_safe(q{SET supamon.max_answer_size = '16MB';
SELECT string_agg(project || '|' || reachable || '|' || coalesce(error, ''), E'\n' ORDER BY project) FROM supamon_audit()});
	my $peak = $hwm->() - $before;
	$session->quit;
	my %r = map { my @f = split /\|/, $_, -1; ($f[0] => { reachable => $f[1], error => $f[2] }) } split /\n/, $out;
	is($r{huge}{reachable}, 'false', 'the project answering 30 MB is not collected');
	is($r{huge}{error}, "the project's answer exceeds 16 MB", 'its error says why');
	is(scalar(grep { $r{$_}{reachable} eq 'true' } keys %r), 20, 'the 20 others are collected');
	# one 30 MB row in libpq's buffer and its result is what any libpq
	# client pays; what supamon keeps is bounded by the setting
	cmp_ok($peak, '<', 110, sprintf('the backend grew by %.0f MB at its peak', $peak));
	like($central->safe_psql('postgres', "SELECT last_error FROM supamon.project WHERE name = 'huge'"),
		qr/answer exceeds 16 MB/, 'last_error records it');
}
$central->safe_psql('postgres', "SELECT supamon_remove_project('huge')");

# --- a conninfo broken behind supamon's back, and passwords in libpq's errors
{
	my $log_offset = -s $central->logfile;
	$central->safe_psql('postgres', q{SET log_statement = 'none';
UPDATE supamon.project SET conninfo = 'postgresql://admin:swordfish9@[::1' WHERE name = 'p1'});
	my ($r, $err) = audit("SET log_statement = 'none'; ");
	is($r->{p1}{reachable}, 'f', 'a conninfo that no longer parses: unreachable');
	like($r->{p1}{error}, qr/^invalid connection string: .*IPv6 host address/, 'with the reason');
	my $last = $central->safe_psql('postgres', "SELECT last_error FROM supamon.project WHERE name = 'p1'");
	unlike($r->{p1}{error} . $last, qr/swordfish9/, "the password is masked ($last)");
	is(scalar(grep { $r->{$_}{reachable} eq 't' } keys %$r), 19, 'the others are collected');
	$central->safe_psql('postgres', "UPDATE supamon.project SET conninfo = E' \\t ' WHERE name = 'p1'");
	($r) = audit();
	is($r->{p1}{error}, 'invalid connection string: it is empty',
		"a blank conninfo written behind supamon's back does not connect with libpq's defaults");
	$central->safe_psql('postgres', q{UPDATE supamon.project SET conninfo = 'postgresql://postgres:s3cr@tP4ssw0rd@db.example.invalid:5432/postgres' WHERE name = 'p1'});
	($r) = audit();
	like($r->{p1}{error}, qr/^invalid connection string: a host name holds "@"/,
		'a URI password with a bare "@" is refused before it becomes a host name');
	unlike($r->{p1}{error} . $central->safe_psql('postgres', "SELECT last_error FROM supamon.project WHERE name = 'p1'"),
		qr/tP4ssw0rd/, 'and no part of it is shown');

	my @cases = (
		[ 'host=h user=u password:SECRETPASS', 'SECRETPASS' ],
		[ 'host=h password=SECRET PASS', 'PASS' ],
		[ 'host=h password=SECRET PASS dbname=x', 'PASS' ],
		[ 'postgresql://admin:swordfish9@[::1', 'swordfish9' ],
		[ "host=h password='sec ret' x", 'sec ret' ],
		[ 'postgresql://u@h/db?password=a%zzbcd', 'zzbcd' ],
		[ 'host=h password=x password=hunter22 zz', 'zz' ],
	);
	for my $case (@cases)
	{
		my ($conninfo, $secret) = @$case;
		(my $sql_conninfo = $conninfo) =~ s/'/''/g;
		my ($ret, $out, $add_err) = $central->psql('postgres', qq{SET log_statement = 'none';
SELECT supamon_add_project('leaky', '$sql_conninfo');});
		like($add_err, qr/invalid connection string/, "[$conninfo] is refused");
		unlike($add_err, qr/\Q$secret\E/, "[$conninfo] the error does not show $secret");
	}
	my $log = slurp_file($central->logfile, $log_offset);
	unlike($log, qr/swordfish9|SECRETPASS|PASS|hunter22|zzbcd|sec ret/, 'nothing reaches the server log');
}

$central->stop;
$fleet->stop;
done_testing();
