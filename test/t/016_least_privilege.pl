# A least-privileged role is enough: a project with a real pg_cron (a
# failing job and a healthy one) and pg_net's response table, watched once
# through its superuser and once through a role that has only the grants the
# README lists ("A least-privilege role"), is seen the same way: job
# statuses and errors, the scheduler running, pg_cron's version,
# cron.timezone, pg_net's responses.  Then each grant left out, one at a
# time, with what supamon says about it (the README's troubleshooting quotes
# these texts).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SupamonTest;

my $central = PostgreSQL::Test::Cluster->new('central');
$central->init;
$central->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
supamon.connect_timeout = 3000
});
$central->start;

# pg_cron 1.5 and later know cron.timezone; an older one ignores the line.
my $proj = PostgreSQL::Test::Cluster->new('proj');
$proj->init;
$proj->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.host = '} . $proj->host . qq{'
cron.timezone = 'Europe/Berlin'
});
$proj->start;

# The jobs belong to the superuser, as they belong to postgres on Supabase.
# Debian ships no pg_net: its response table (pg_net's columns, owned by a
# superuser as pg_net's own is), with one response of a minute ago.
$proj->safe_psql('postgres', q{
CREATE EXTENSION pg_cron;
SELECT cron.schedule('flaky', '* * * * *', 'SELECT 1/0');
SELECT cron.schedule('steady', '* * * * *', 'SELECT 1');
CREATE SCHEMA net;
CREATE TABLE net._http_response (id bigint, status_code integer, content_type text,
	headers jsonb, content text, timed_out bool, error_msg text,
	created timestamptz NOT NULL DEFAULT now());
INSERT INTO net._http_response (id, status_code, content, created)
VALUES (1, 200, 'ok', now() - interval '1 minute');
});
my $pg_cron_version = $proj->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'");
my $knows_timezone = $pg_cron_version =~ /^1\.([5-9]|\d\d)/;

# The README's grants, each a line, so that a role can be made without one.
my %grant = (
	bypassrls => 'ALTER ROLE %s BYPASSRLS',
	cron_usage => 'GRANT USAGE ON SCHEMA cron TO %s',
	cron_tables => 'GRANT SELECT ON cron.job, cron.job_run_details TO %s',
	runid_seq => 'GRANT SELECT ON SEQUENCE cron.runid_seq TO %s',
	stats => 'GRANT pg_read_all_stats TO %s',
	settings => 'GRANT pg_read_all_settings TO %s',
	net_usage => 'GRANT USAGE ON SCHEMA net TO %s',
	net_table => 'GRANT SELECT ON net._http_response TO %s');

sub make_role
{
	my ($role, $without) = @_;
	my $sql = "CREATE ROLE $role LOGIN;\n";
	for my $k (sort keys %grant)
	{
		next if defined $without && $k eq $without;
		$sql .= sprintf($grant{$k}, $role) . ";\n";
	}
	$proj->safe_psql('postgres', $sql);
	return $role;
}

# Projects: the superuser, the least-privileged role, and one role per
# missing grant.
my %project = (as_superuser => undef, least => make_role('supamon_reader'));
for my $k (qw(bypassrls cron_usage stats settings net_usage))
{
	$project{"without_$k"} = make_role("reader_without_$k", $k);
}
$central->safe_psql('postgres', "CREATE EXTENSION supamon;\n"
	  . join('', map { "SELECT supamon_add_project('$_', '" . project_connstr($proj, 'postgres', $project{$_}) . "');\n" }
		  sort keys %project));

ok($proj->poll_query_until('postgres', q{
	SELECT count(DISTINCT j.jobname) = 2 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	WHERE d.status IN ('succeeded', 'failed')}),
	'pg_cron ran both jobs');

# Twice: the first check finds pg_net's table readable, the second reads it.
$central->safe_psql('postgres', 'SELECT supamon_check_health()') for 1 .. 2;

sub project_row
{
	my ($p) = @_;
	return $central->safe_psql('postgres', qq{
		SELECT concat_ws(' | ', status, reachable, last_error, pg_cron_version, cron_timezone,
			scheduler_running, jobs, healthy, failed, pg_net_responses, health_note)
		FROM supamon.project_status WHERE project = '$p'});
}
sub jobs_of
{
	my ($p) = @_;
	return $central->safe_psql('postgres', qq{
		SELECT string_agg(concat_ws(' | ', name, status, last_error), E'\n' ORDER BY name)
		FROM supamon.job_status WHERE project = '$p'});
}

# --- the least-privileged role sees what the superuser sees
my $super = project_row('as_superuser');
is(jobs_of('as_superuser'), "flaky | failed | ERROR: division by zero\nsteady | success",
	'through the superuser: flaky failed, steady success');
like($super, qr/^ok \| t \| \Q$pg_cron_version\E \| .*t \| 2 \| 1 \| 1 \| 1$/,
	"through the superuser: ok, pg_cron $pg_cron_version, scheduler running, 2 jobs, one pg_net response, no note");
is(project_row('least'), $super, 'through supamon_reader: the same project status, scheduler, version, time zone, counts');
is(jobs_of('least'), jobs_of('as_superuser'), 'through supamon_reader: the same job statuses and errors');
SKIP:
{
	skip "pg_cron $pg_cron_version has no cron.timezone", 1 unless $knows_timezone;
	is($central->safe_psql('postgres', "SELECT cron_timezone FROM supamon.project_status WHERE project = 'least'"),
		'Europe/Berlin', "through supamon_reader: cron.timezone is the project's");
}

# --- each grant left out
my $no_usage = project_row('without_cron_usage');
like($no_usage, qr/^unreachable \| f \| permission denied for schema cron\b/,
	'without USAGE on schema cron: unreachable, "permission denied for schema cron"');
like(project_row('without_net_usage'), qr/^ok \| t \| \Q$pg_cron_version\E \|(?:.*\|)? 2 \| 1 \| 1\b/,
	'without USAGE on schema net (where it exists): the jobs judged as before');
is($central->safe_psql('postgres', "SELECT pg_net_responses IS NULL FROM supamon.project_status WHERE project = 'without_net_usage'"),
	't', 'and pg_net left unread');
like(project_row('without_bypassrls'),
	qr/^ok \| t \|.* \| 0 \| 0 \| 0 \| .*pg_cron's row-level security shows role reader_without_bypassrls only its own jobs/,
	'without BYPASSRLS: no job seen, and health_note says why');
is(jobs_of('without_bypassrls'), '', 'without BYPASSRLS: no job listed');
like(project_row('without_stats'),
	qr/^ok \| t \| \Q$pg_cron_version\E \|(?:.*\|)? 2 \| 1 \| 1 \|.*the pg_cron scheduler is not visible to supamon's role \(it needs pg_read_all_stats\)/,
	'without pg_read_all_stats: the jobs still judged, the scheduler unknown, and said');
is($central->safe_psql('postgres', "SELECT scheduler_running IS NULL FROM supamon.project_status WHERE project = 'without_stats'"),
	't', 'without pg_read_all_stats: scheduler_running is NULL, not false');
SKIP:
{
	skip "pg_cron $pg_cron_version has no cron.timezone", 1 unless $knows_timezone;
	like(project_row('without_settings'),
		qr/cron\.timezone is not visible to supamon's role \(it needs pg_read_all_settings\): using GMT/,
		'without pg_read_all_settings: GMT, and said');
}
is(jobs_of('without_stats'), jobs_of('as_superuser'), 'without pg_read_all_stats: the same job statuses');

done_testing();
