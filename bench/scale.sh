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


bindir=$(pg_config --bindir)
dir=$(mktemp -d /tmp/supamon-bench.XXXXXX)
chown postgres: "$dir"
as_pg() { runuser -u postgres -- "$@"; }
free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}
central_port=$(free_port 56100)
project_port=$(free_port $((central_port + 1)))

start_cluster() {
	local name=$1 port=$2 preload=$3
	as_pg "$bindir/initdb" -D "$dir/$name" -A trust -U postgres >/dev/null
	cat >>"$dir/$name/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 512MB
shared_preload_libraries = '$preload'
fsync = off
CONF
	as_pg "$bindir/pg_ctl" -D "$dir/$name" -l "$dir/$name.log" -w start >/dev/null
}
stop_all() {
	for name in central projects; do
		[ -d "$dir/$name" ] && as_pg "$bindir/pg_ctl" -D "$dir/$name" -m immediate -w stop >/dev/null 2>&1 || true
	done
	rm -rf "$dir"
}
trap stop_all EXIT

start_cluster central "$central_port" supamon
start_cluster projects "$project_port" ''

cpsql() { as_pg "$bindir/psql" -X -q -At -h "$dir" -p "$central_port" -U postgres -d postgres "$@"; }
ppsql() { local db=$1; shift; as_pg "$bindir/psql" -X -q -At -h "$dir" -p "$project_port" -U postgres -d "$db" "$@"; }
# milliseconds one statement takes, measured by psql
timed() { local client=$1; shift; "$client" -c '\timing on' "$@" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1; }
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
