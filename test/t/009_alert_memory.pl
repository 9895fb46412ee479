# The worker's memory over 10,000 deliveries: what it holds after the first
# 1,000 is what it holds after 10,000 (a long-running worker must not grow).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use lib 'test/perl';
use Receiver;

my $r = Receiver->start;
my $node = PostgreSQL::Test::Cluster->new('central');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
log_statement = none
});
$node->start;
$node->safe_psql('postgres', qq{
CREATE EXTENSION supamon;
SELECT supamon_add_channel('bulk', 'webhook', '@{[$r->url('/bulk')]}');
});
my $pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'supamon worker'");
ok($pid, 'worker running');

# private memory (shared buffers the worker touches are not its growth) and
# the total of its memory contexts, as PostgreSQL reports them
sub rss_anon
{
	my $status = slurp_file("/proc/$pid/status");
	return $status =~ /^RssAnon:\s+(\d+) kB/m ? $1 : undef;
}

sub context_total
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($pid)");
	my $total;
	for (1 .. 100)
	{
		my $log = slurp_file($node->logfile, $offset);
		last if ($total) = $log =~ /\[$pid\] LOG:  Grand total: (\d+) bytes/;
		sleep 0.1;
	}
	return $total;
}

sub deliver
{
	my ($from, $to) = @_;
	$node->safe_psql('postgres', qq{
INSERT INTO supamon.alert_outbox (channel_id, channel, project_name, job_name, event, criticality, message)
SELECT c.id, 'webhook', 'p', 'job-' || g, 'failed', 'important', 'p/job-' || g || ' failed'
FROM supamon.alert_config c, generate_series($from, $to) g;
SELECT pg_reload_conf();
});
	ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM supamon.alert_outbox WHERE state <> 'sent'"), "alerts $from to $to sent");
}

# the first thousand warm the caches up (plans, catalog, malloc's arenas);
# from then on what the worker holds must stay put
deliver(1, 1000);
my ($rss0, $ctx0) = (rss_anon(), context_total());
deliver(1001, 5500);
my ($rss1, $ctx1) = (rss_anon(), context_total());
my $t0 = time;
deliver(5501, 10000);
my $secs = time - $t0;
my ($rss2, $ctx2) = (rss_anon(), context_total());
is($node->safe_psql('postgres', "SELECT count(*) FROM supamon.alert_outbox WHERE state = 'sent'"), '10000', '10,000 delivered');
my $received = () = grep { $_->{path} eq '/bulk' && $_->{status} == 200 } $r->requests;
ok($received >= 10000, "the receiver got them all ($received)");
diag(sprintf('worker RssAnon / memory contexts after 1,000 deliveries: %d kB / %d bytes; 5,500: %d kB / %d bytes; '
	. '10,000: %d kB / %d bytes; the last 4,500 in %.1f s',
	$rss0, $ctx0, $rss1, $ctx1, $rss2, $ctx2, $secs));
ok($ctx2 - $ctx1 < 128 * 1024, 'memory contexts did not grow over the last 4,500 (under 128 kB)');
# malloc's arenas move by a few hundred kB either way; a leak of even one kB
# a delivery would add 4.5 MB
ok($rss2 - $rss1 < 3072, 'private memory did not grow over the last 4,500 (under 3 MB)');

$r->stop;
done_testing();
