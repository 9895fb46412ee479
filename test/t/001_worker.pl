# The background worker: starts in supamon.database, notices the extension,
# is restarted after a crash, ends on SIGTERM, absorbs ProcSignalBarriers
# (DROP DATABASE never hangs), leaves with its database, never runs on a
# hot standby.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $worker_q = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'supamon worker'";

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
supamon.database = 'postgres'
restart_after_crash = on
});
$node->start;

# Started, in the configured database, waiting for the extension.
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'supamon worker' "
	  . "AND datname = 'postgres' AND query LIKE '%waiting for CREATE EXTENSION supamon%'"),
	'worker runs in supamon.database and waits for the extension');

# It notices CREATE EXTENSION (a reload wakes it; no restart needed).
$node->safe_psql('postgres', 'CREATE EXTENSION supamon');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'supamon worker' AND query = 'supamon: idle'"),
	'worker notices the extension');
ok($node->log_contains(qr/supamon worker: extension found in database "postgres"/),
	'worker logs that it found the extension');

# It waits on its latch: in 3 seconds of idleness it wakes at most once.
my $pid = $node->safe_psql('postgres', $worker_q);
my $stat = sub { (split ' ', slurp_file("/proc/$pid/stat"))[13] + 0 };	# utime ticks
my $ticks0 = $stat->();
sleep 3;
cmp_ok($stat->() - $ticks0, '<=', 2, 'idle worker uses no CPU (no busy polling)');

# DROP DATABASE of another database waits for every backend to absorb a
# ProcSignalBarrier; a worker that ignored SIGUSR1 would make it hang.
$node->safe_psql('postgres', 'CREATE DATABASE other');
my ($ret, $out, $err, $timed_out);
$ret = $node->psql('postgres', 'DROP DATABASE other', timeout => 30, timed_out => \$timed_out);
ok(!$timed_out && $ret == 0, 'DROP DATABASE of another database completes while the worker runs');
is($node->safe_psql('postgres', $worker_q), $pid, 'the worker survived it');

# SIGKILL is a crash: the postmaster resets and starts a new worker.
kill 'KILL', $pid;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM ($worker_q) w WHERE pid <> $pid"),
	'worker restarted after SIGKILL');
my $pid2 = $node->safe_psql('postgres', $worker_q);
isnt($pid2, $pid, 'a new worker process');

# SIGTERM is a request to stop: the worker exits cleanly and stays stopped.
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid2)");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM ($worker_q) w"),
	'worker ends on SIGTERM');
ok($node->log_contains(qr/supamon worker shutting down/, $log_offset), 'and says so');
sleep 12;	# longer than the restart interval of a crashed worker
is($node->safe_psql('postgres', "SELECT count(*) FROM ($worker_q) w"), '0',
	'a worker stopped by SIGTERM is not restarted');
unlike(slurp_file($node->logfile, $log_offset), qr/supamon worker" \(PID \d+\) exited with exit code 1/,
	'it exited with code 0');

# A hot standby never runs the worker; the promoted server does.
$node->restart;
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($worker_q) w"),
	'worker back after a server restart');
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
sleep 3;
is($standby->safe_psql('postgres', "SELECT count(*) FROM ($worker_q) w"), '0',
	'no worker on a hot standby');
$standby->promote;
ok($standby->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($worker_q) w"),
	'worker starts once the standby is promoted');
$standby->stop;
$node->stop;

# DROP DATABASE ... WITH (FORCE) of the worker's own database ends it cleanly.
my $own = PostgreSQL::Test::Cluster->new('own');
$own->init;
$own->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'supamon'
supamon.database = 'thordata'
});
$own->start;
$own->safe_psql('postgres', 'CREATE DATABASE thordata');
$own->safe_psql('thordata', 'CREATE EXTENSION supamon');
ok($own->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'supamon worker' AND datname = 'thordata'"),
	'worker runs in thordata');
$log_offset = -s $own->logfile;
$ret = $own->psql('postgres', 'DROP DATABASE thordata WITH (FORCE)',
	stderr => \$err, timeout => 30, timed_out => \$timed_out);
ok(!$timed_out && $ret == 0, 'DROP DATABASE WITH (FORCE) of its own database succeeds') or diag $err;
is($own->safe_psql('postgres', "SELECT count(*) FROM ($worker_q) w"), '0', 'worker is gone');
ok($own->log_contains(qr/supamon worker shutting down/, $log_offset), 'it shut down cleanly');
$own->stop;

done_testing();
