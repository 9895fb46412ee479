# Helpers shared by supamon's TAP tests.
package SupamonTest;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(cron_tables_sql project_connstr central_with_closed_channel);

# pg_cron 1.4's two tables, for a database whose run history a test writes
# by hand (no pg_cron there: nothing runs, and no scheduler serves it).
sub cron_tables_sql
{
	return q{
CREATE SCHEMA cron;
CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL,
	command text NOT NULL, nodename text NOT NULL DEFAULT 'localhost',
	nodeport int NOT NULL DEFAULT 5432, database text NOT NULL DEFAULT current_database(),
	username text NOT NULL DEFAULT current_user, active boolean NOT NULL DEFAULT true,
	jobname name);
CREATE TABLE cron.job_run_details (jobid bigint, runid bigserial PRIMARY KEY,
	job_pid int, database text, username text, command text, status text,
	return_message text, start_time timestamptz, end_time timestamptz);
};
}

# A started central cluster with supamon created, connect and query timeouts
# of 2 and 3 s (plus $extra_conf), and a Discord channel on a closed port:
# nothing is delivered, what is queued stays in the outbox to be counted.
sub central_with_closed_channel
{
	my ($name, $preload, $extra_conf) = @_;
	my $c = PostgreSQL::Test::Cluster->new($name);
	$c->init;
	$c->append_conf('postgresql.conf',
		($preload ? "shared_preload_libraries = 'supamon'\n" : '')
		  . "supamon.connect_timeout = 2000\nsupamon.query_timeout = 3000\n"
		  . ($extra_conf // ''));
	$c->start;
	$c->safe_psql('postgres', 'CREATE EXTENSION supamon');
	$c->safe_psql('postgres',
		"INSERT INTO supamon.alert_config (channel, webhook_url) VALUES ('discord', 'http://127.0.0.1:9/hook')");
	return $c;
}

# A libpq connection string for a database of a test cluster.
sub project_connstr
{
	my ($node, $db, $user) = @_;
	return 'host=' . $node->host . ' port=' . $node->port . ' dbname=' . ($db // 'postgres')
	  . ($user ? " user=$user" : '');
}

1;
