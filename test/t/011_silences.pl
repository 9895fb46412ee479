# Silences end to end: while a job is silenced or inside a maintenance window
# its failure reaches no one; when the silence ends with the job still bad,
# exactly one message says so; an acknowledged problem is not reminded.
# Messages are counted at a local receiver, as a user would see them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use lib 'test/perl';
use SupamonTest;
use Receiver;

my $r = Receiver->start;
my $node = PostgreSQL::Test::Cluster->new('central');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon,pg_cron'
cron.database_name = 'postgres'
supamon.repeat_interval = '2s'
});
$node->start;
$node->safe_psql('postgres', cron_tables_sql() . qq{
CREATE EXTENSION supamon;
CREATE FUNCTION add_job(name text) RETURNS void LANGUAGE sql AS \$\$
	INSERT INTO cron.job (schedule, command, jobname) VALUES ('0 3 * * *', 'SELECT 1', name) \$\$;
CREATE FUNCTION run(name text, status text) RETURNS void LANGUAGE sql AS \$\$
	INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
	SELECT jobid, status, 'ERROR:  ' || name || ' broke', now() - interval '5 seconds', now() - interval '4 seconds'
	FROM cron.job WHERE jobname = name \$\$;
SELECT supamon_add_project('local');
SELECT supamon_add_channel('hook', 'webhook', '@{[$r->url('/hook')]}');
SELECT add_job('migrating'), add_job('patched'), add_job('known-bad');
});
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'"), 'pg_cron launcher up');
sub check { $node->safe_psql('postgres', 'SELECT supamon_check_health()'); }
sub settle { sleep 1.5; }    # the worker sends within milliseconds of a commit
sub told { my ($job) = @_; return scalar grep { ($_->{json}{job} // '') eq $job } $r->requests; }
check();

# A silence and a window, both open now.
$node->safe_psql('postgres', q{
SELECT supamon_silence('local', 'migrating', now() + interval '1 hour', 'schema migration tonight');
SELECT supamon_add_maintenance('local', 'patched', '* * * * *', '1 hour', 'UTC', 'patching');
SELECT run('migrating', 'failed'), run('patched', 'failed');
});
check();
settle();
is(told('migrating') + told('patched'), 0, 'silenced and in-window failures reach no one');
is($node->safe_psql('postgres', q{
SELECT string_agg(name || ':' || status || ':' || silence_reason, ' ' ORDER BY name)
FROM supamon.job_status WHERE name IN ('migrating', 'patched')}),
	'migrating:failed:schema migration tonight patched:failed:patching', 'status decided and shown, with why');

# The silence ends, the job still failing: one message; checks after it, none.
$node->safe_psql('postgres', "UPDATE supamon.silence SET until = now() WHERE kind = 'silence'");
check();
ok($r->wait_for(sub { grep { ($_->{json}{job} // '') eq 'migrating' } @_ }, 10), 'told once the silence ends');
check();
sleep 2.5;
check();
settle();
is(told('migrating'), 2, 'then reminded as any told problem (2 s repeat): two messages in all');
is(told('patched'), 0, 'the job in the window: still nothing');

# Acknowledged: no more reminders until its status changes.
$node->safe_psql('postgres', q{SELECT run('known-bad', 'failed')});
check();
ok($r->wait_for(sub { grep { ($_->{json}{job} // '') eq 'known-bad' } @_ }, 10), 'a new failure is told');
$node->safe_psql('postgres', q{SELECT supamon_ack('local', 'known-bad', 'fix ships Monday')});
sleep 2.5;
check();
settle();
is(told('known-bad'), 1, 'acknowledged: no reminder');
$node->safe_psql('postgres', q{SELECT run('known-bad', 'succeeded')});
check();
ok($r->wait_for(sub { grep { ($_->{json}{job} // '') eq 'known-bad' && $_->{json}{event} eq 'recovered' } @_ }, 10),
	'the next change is told as usual');

$r->stop;
done_testing();
