#!/usr/bin/env bash
# Benchmark: what one big project costs the central server.
#
#   bash bench/scale.sh [ROUNDS]      (as root; ROUNDS defaults to 3; SIZES="2000 8000" to choose N)
#
# A project with N jobs (2,000, 8,000, 32,000), each with one finished run.
# Timed: the first audit of it (in a transaction rolled back each round, so
# each is a first contact with the inventory's statistics as they were),
# and a steady-state check after one new run per job.  A cost that follows
# the project's size gives the same microseconds per job at every N; a
# quadratic one (matching runs to jobs by scanning, a join planned for a
# handful of rows) grows with N.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}

bash "$top/test/setup.sh" >/dev/null
source "$top/bench/common.sh"
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

cpsql -c 'CREATE EXTENSION supamon' >/dev/null
printf '%8s  %16s  %10s  %16s  %10s\n' jobs 'first audit ms' 'us/job' 'steady check ms' 'us/job'
for n in ${SIZES:-2000 8000 32000}; do
	ppsql postgres -c "DROP DATABASE IF EXISTS big" -c "CREATE DATABASE big" >/dev/null
	ppsql big >/dev/null <<SQL
CREATE SCHEMA cron;
CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL, command text NOT NULL,
	database text NOT NULL DEFAULT current_database(), username text NOT NULL DEFAULT current_user,
	active boolean NOT NULL DEFAULT true, jobname name);
CREATE TABLE cron.job_run_details (jobid bigint, runid bigserial PRIMARY KEY, status text,
	return_message text, start_time timestamptz, end_time timestamptz);
INSERT INTO cron.job (schedule, command, jobname)
SELECT '*/5 * * * *', 'SELECT ' || i, 'job-' || i FROM generate_series(1, $n) i;
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT i, 'succeeded', '1 row', now() - interval '1 minute', now() FROM generate_series(1, $n) i;
SQL
	cpsql -c "SELECT supamon_remove_project(name) FROM supamon.project" \
		-c "SELECT supamon_add_project('big', 'host=$dir port=$project_port dbname=big')" >/dev/null
	first=$(for r in $(seq "$rounds"); do
		cpsql -c 'BEGIN' -c '\timing on' -c "SELECT count(*) FROM supamon_audit('big')" -c 'ROLLBACK' |
			sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sed -n 1p
	done | median)
	cpsql -c "SELECT supamon_check_health('big')" >/dev/null
	steady=$(for r in $(seq "$rounds"); do
		ppsql big -c "INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
			SELECT jobid, 'succeeded', '1 row', now(), now() FROM cron.job" >/dev/null
		timed cpsql -c "SELECT supamon_check_health('big')"
	done | median)
	printf '%8d  %16.1f  %10.1f  %16.1f  %10.1f\n' "$n" "$first" \
		"$(awk -v a="$first" -v n="$n" 'BEGIN { print a * 1000 / n }')" "$steady" \
		"$(awk -v a="$steady" -v n="$n" 'BEGIN { print a * 1000 / n }')"
done
