# pg_cron jobs that call endpoints through pg_net: pg_cron says "succeeded"
# once the request is queued, so supamon judges them by what the endpoint
# answered (net._http_response).  Debian ships no pg_net: each project here
# has a net schema of the test's own with pg_net's real _http_response
# columns, and a net.http_post that stands in for pg_net's worker by writing
# the response row itself.  A real pg_cron job calling it is failed when its
# endpoint answers 500 while pg_cron says succeeded; runs written by hand
# cover what no minute of pg_cron can stage: two callers at once (no one
# blamed), a timeout, a recovery, a project without pg_net, a table that
# vanishes, one that another role owns.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use lib 'test/perl';
use SupamonTest;

# pg_net's table, a stand-in for its request function, and what each
# endpoint (by the URL's last segment) answers.
my $net_sql = q{
CREATE SCHEMA net;
CREATE TABLE net._http_response (id bigint, status_code integer, content_type text,
	headers jsonb, content text, timed_out bool, error_msg text,
	created timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON net._http_response (created);
CREATE SEQUENCE net.request_id;
CREATE TABLE net.answers (endpoint text PRIMARY KEY, status int, body text,
	timed_out bool NOT NULL DEFAULT false, error_msg text);
CREATE FUNCTION net.http_post(url text, body jsonb DEFAULT '{}', params jsonb DEFAULT '{}',
	headers jsonb DEFAULT '{}', timeout_milliseconds int DEFAULT 5000) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	rid bigint := nextval('net.request_id');
	a net.answers;
BEGIN
	SELECT * INTO a FROM net.answers WHERE url LIKE '%/' || endpoint;
	INSERT INTO net._http_response (id, status_code, content, timed_out, error_msg)
	VALUES (rid, a.status, a.body, a.timed_out, a.error_msg);
	RETURN rid;
END $$;
};

my $central = PostgreSQL::Test::Cluster->new('central');
$central->init;
$central->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
supamon.connect_timeout = 3000
});
$central->start;

# --- a project with a real pg_cron and the stand-in pg_net
my $live = PostgreSQL::Test::Cluster->new('live');
$live->init;
$live->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.host = '} . $live->host . qq{'
});
$live->start;
$live->safe_psql('postgres', $net_sql . q{
CREATE EXTENSION pg_cron;
INSERT INTO net.answers VALUES ('report', 500, '{"msg":"function crashed: TypeError: x is undefined"}');
SELECT cron.schedule('call-report', '* * * * *',
	$$SELECT net.http_post(url := 'https://abcdefghijkl.supabase.co/functions/v1/report', body := '{}'::jsonb)$$);
SELECT cron.schedule('steady', '* * * * *', 'SELECT 1');
});

# --- a project whose run history is written by hand (its pg_cron runs, but
# its jobs fire once a year: none is missed or run while the test runs)
my $hand = PostgreSQL::Test::Cluster->new('hand');
$hand->init;
$hand->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.host = '} . $hand->host . qq{'
});
$hand->start;
$hand->safe_psql('postgres', $net_sql . q{
CREATE EXTENSION pg_cron;
SELECT cron.schedule('b-one', '0 0 1 1 *', $$SELECT net.http_post('https://h.example/one', '{}')$$);
SELECT cron.schedule('b-two', '0 0 1 1 *', $$SELECT net.http_post('https://h.example/two', '{}')$$);
SELECT cron.schedule('b-slow', '0 0 1 1 *',
	$$SELECT net.http_post(url := 'https://h.example/slow?token=s3cr3tvalue', timeout_milliseconds := 1000)$$);
SELECT cron.schedule('b-plain', '0 0 1 1 *', 'SELECT 1');
});

# --- a project without pg_net, and one whose net table another role owns
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', cron_tables_sql() . q{
INSERT INTO cron.job (jobid, schedule, command, jobname) VALUES
	(1, '0 0 1 1 *', $$SELECT net.http_post('https://h.example/x', '{}')$$, 'c-call');
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
	VALUES (1, 'succeeded', '1 row', now() - interval '30 s', now() - interval '30 s');
CREATE DATABASE owned;
});
$plain->safe_psql('owned', cron_tables_sql() . $net_sql . q{
CREATE ROLE mallory;
ALTER TABLE net._http_response OWNER TO mallory;
INSERT INTO cron.job (jobid, schedule, command, jobname) VALUES
	(1, '0 0 1 1 *', $$SELECT net.http_post('https://h.example/x', '{}')$$, 'd-call');
});

$central->safe_psql('postgres', qq{
CREATE EXTENSION supamon;
SELECT supamon_add_project('live', '@{[project_connstr($live)]}');
SELECT supamon_add_project('hand', '@{[project_connstr($hand)]}');
SELECT supamon_add_project('plain', '@{[project_connstr($plain)]}');
SELECT supamon_add_project('owned', '@{[project_connstr($plain, 'owned')]}');
INSERT INTO supamon.alert_config (channel, webhook_url) VALUES ('discord', 'http://127.0.0.1:9/hook');
});

sub check
{
	my $summary = $central->safe_psql('postgres', 'SELECT supamon_check_health()');
	return $summary;
}
sub job
{
	my ($project, $name, $cols) = @_;
	return $central->safe_psql('postgres',
		"SELECT $cols FROM supamon.job_status WHERE project = '$project' AND name = '$name'");
}
sub project
{
	my ($project, $cols) = @_;
	return $central->safe_psql('postgres',
		"SELECT $cols FROM supamon.project_status WHERE project = '$project'");
}
sub outbox
{
	my ($project) = @_;
	return $central->safe_psql('postgres',
		"SELECT coalesce(string_agg(job_name || ':' || event, ',' ORDER BY id), '') FROM supamon.alert_outbox WHERE project_name = '$project'");
}
# Runs and responses, at seconds before the project's now().
sub run_at
{
	my ($job, $ago) = @_;
	$hand->safe_psql('postgres',
		"INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)"
		  . " SELECT jobid, 'succeeded', '1 row', now() - interval '$ago s', now() - interval '$ago s'"
		  . " FROM cron.job WHERE jobname = '$job'");
}
sub response_at
{
	my ($ago, $status, $body, $timed_out, $error) = @_;
	$hand->safe_psql('postgres',
		"INSERT INTO net._http_response (id, status_code, content, timed_out, error_msg, created)"
		  . " VALUES (nextval('net.request_id'), "
		  . (defined $status ? $status : 'NULL') . ", "
		  . (defined $body ? "'$body'" : 'NULL') . ", "
		  . ($timed_out ? 'true' : 'false') . ", "
		  . (defined $error ? "'$error'" : 'NULL') . ", now() - interval '$ago s')");
}

# The first check finds which projects have a readable pg_net and which jobs
# call it; runs are judged from the next.
check();
is($central->safe_psql('postgres',
		"SELECT string_agg(name || '=' || coalesce(pg_net_readable::text, '-'), ',' ORDER BY name) FROM supamon.project"),
	'hand=true,live=true,owned=false,plain=false',
	'pg_net is readable where its table is a superuser\'s; not where it is missing or another role owns it');
is(job('hand', 'b-slow', 'calls'), 'https://h.example/slow',
	'a job that calls pg_net shows the URL it calls, without its query string');
is(job('live', 'call-report', 'calls'), 'report', 'a call to an Edge Function shows its slug');
is(job('hand', 'b-plain', "coalesce(calls, '-')"), '-', 'a job that calls nothing shows nothing');
unlike($central->safe_psql('postgres', 'SELECT string_agg(calls_url, \' \') FROM supamon.job_inventory'),
	qr/s3cr3tvalue/, 'no query string (and its token) is kept');

# Runs are judged 30 s after their window (start to end + timeout + 10 s)
# has closed, and their windows here never meet those of other rounds.
# --- two callers at once, one answered 500 and one 200: no one is blamed
run_at('b-one', 90);
run_at('b-two', 90);
response_at(89, 500, 'boom');
response_at(89, 200, 'fine');
# --- a caller alone whose request timed out
run_at('b-slow', 130);
response_at(129, undef, undef, 1, 'Timeout of 1000 ms reached');
run_at('b-plain', 130);
check();
is(job('hand', 'b-one', 'status') . ',' . job('hand', 'b-two', 'status'), 'success,success',
	'two callers in one window with answers that disagree: neither is failed');
like(job('hand', 'b-one', 'reason') . job('hand', 'b-one', "coalesce(last_error, '')"), qr/^$/,
	'and neither shows an error');
is($central->safe_psql('postgres', q{
	SELECT string_agg(coalesce(j.http_outcome, '-') || ':' || r.verdict, ',' ORDER BY j.job_name)
	FROM supamon.job_inventory j JOIN supamon.pg_net_run r ON r.job_id = j.job_id AND r.project_name = j.project_name
	WHERE j.job_name IN ('b-one', 'b-two')}),
	'-:unknown,-:unknown', 'their runs are unknown, and nothing is recorded against either job');
is(job('hand', 'b-slow', 'status'), 'failed', 'a caller whose request timed out is failed');
like(job('hand', 'b-slow', 'reason'), qr/timed out \(pg_cron says it succeeded\)/, 'its reason says it timed out');
is(job('hand', 'b-slow', 'last_run_status'), 'succeeded', 'while pg_cron says its run succeeded');
is(project('hand', 'pg_net_responses || \'/\' || pg_net_failures || \'/\' || pg_net_unattributed_failures'), '3/2/1',
	'project_status counts the pg_net responses, failures, and the failure no job could be blamed for');
is(outbox('hand'), 'b-slow:failed', 'one alert, for the job whose failure is certain');

# --- both callers again, and this time both answers fail: both are failed
run_at('b-one', 50);
run_at('b-two', 50);
response_at(49, 502, 'bad gateway');
response_at(49, 503, 'unavailable');
check();
is(job('hand', 'b-one', 'status') . ',' . job('hand', 'b-two', 'status'), 'failed,failed',
	'two callers whose answers all failed: both failed');
like(job('hand', 'b-two', 'reason'), qr/every one of the 2 pg_net requests made at that time failed/,
	'the reason says the failure is shared');
is(project('hand', 'pg_net_responses || \'/\' || pg_net_failures || \'/\' || pg_net_unattributed_failures'), '5/4/1',
	'project_status counts the responses of the last 5 minutes: the shared failures are told apart, the first 500 still is not');

# --- the slow job's endpoint answers again: recovered
run_at('b-slow', 70);
response_at(69, 200, 'ok');
check();
is(job('hand', 'b-slow', 'status') . ' ' . job('hand', 'b-slow', 'last_http_status'), 'success 200',
	'its next request answered 200: success');
like(outbox('hand'), qr/b-slow:failed.*b-slow:recovered/, 'and a recovered alert is queued');

# --- the failed callers run again with answers that disagree: that says
# nothing, so they stay failed (no false recovery)
run_at('b-one', 115);
run_at('b-two', 115);
response_at(114, 200, 'fine');
response_at(114, 500, 'boom');
check();
is(job('hand', 'b-one', 'status') . ',' . job('hand', 'b-two', 'status'), 'failed,failed',
	'runs that cannot be told apart leave the last known failure standing');
unlike(outbox('hand'), qr/b-one:recovered|b-two:recovered/, 'and no recovery is claimed');

# --- a run whose window is still open (or only just closed: pg_net commits
# its responses in batches) is not judged yet
run_at('b-slow', 2);
response_at(1, 500, 'late');
check();
is(job('hand', 'b-slow', 'status'), 'success', 'a run whose response may still come is not judged yet');
is($central->safe_psql('postgres', "SELECT count(*) FROM supamon.pg_net_run WHERE project_name = 'hand' AND verdict IS NULL"),
	'1', 'it waits in supamon.pg_net_run');

# --- projects without pg_net are unaffected
is(project('plain', "reachable || ' ' || coalesce(last_error, '-') || ' ' || coalesce(pg_net_responses::text, '-')"), 'true - -',
	'a project without pg_net is read as before, and claims no pg_net figures');
is(job('plain', 'c-call', 'status'), 'success', 'its calling job is judged by pg_cron alone');
is(project('owned', 'reachable'), 't', 'a net table that another role owns is not read, and does no harm');

# --- the table vanishes between two checks: read again without it
$hand->safe_psql('postgres', 'DROP TABLE net._http_response');
my $summary = check();
is(project('hand', 'status || \' \' || reachable'), 'ok true',
	'pg_net dropped since the last check: the project is still reachable');
is($central->safe_psql('postgres', "SELECT pg_net_readable FROM supamon.project WHERE name = 'hand'"), 'f',
	'and supamon knows it is gone');
like($summary, qr/"unreachable_projects": 0/, 'no project is unreachable');

# --- the real pg_cron job: its endpoint answers 500, pg_cron says succeeded
ok($live->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	WHERE j.jobname = 'call-report' AND d.status = 'succeeded'}),
	'pg_cron ran the calling job, and says it succeeded');
# its window (the run, pg_net's default 5 s timeout and 10 s of its worker)
# closes, and 30 s more for pg_net's batches
ok($live->poll_query_until('postgres', q{
	SELECT now() > min(end_time) + interval '46 s' FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	WHERE j.jobname = 'call-report'}), 'its response window closed');
check();
is(job('live', 'call-report', 'status'), 'failed', 'the job is failed from what its endpoint answered');
is(job('live', 'call-report', 'last_http_status'), '500', 'job_status shows the HTTP status');
like(job('live', 'call-report', 'reason'),
	qr/answered HTTP 500 \(pg_cron says it succeeded\): \{"msg":"function crashed: TypeError: x is undefined"\}/,
	'its reason has the status and the start of the body');
is(job('live', 'steady', 'status'), 'success', 'the project\'s other job is unaffected');
is(outbox('live'), 'call-report:failed', 'one alert queued');
like($central->safe_psql('postgres', "SELECT details ->> 'error' FROM supamon.alert_outbox WHERE project_name = 'live'"),
	qr/HTTP 500/, 'the alert carries the HTTP failure as its error');

done_testing();
