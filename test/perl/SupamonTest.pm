# Helpers shared by supamon's TAP tests.
package SupamonTest;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(cron_tables_sql project_connstr);

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

# A libpq connection string for a database of a test cluster.
sub project_connstr
{
	my ($node, $db, $user) = @_;
	return 'host=' . $node->host . ' port=' . $node->port . ' dbname=' . ($db // 'postgres')
	  . ($user ? " user=$user" : '');
}

1;
