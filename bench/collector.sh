#!/usr/bin/env bash
# Benchmark of the collector (supamon_audit), on real servers started here.
#
#   bash bench/collector.sh [ROUNDS]      (as root; ROUNDS defaults to 15)
#
# 1. Steady state: 4 projects x 100 jobs with 10k, 100k and 1M history rows
#    each; per round every job gets one new run, then one audit is timed.
#    Side by side, the original plan's way: read all of the last 7 days of
#    history from the 4 projects.
# 2. 20 slow projects (their cron.job answers after 200 ms): one audit of
#    all 20 against an audit of one.
# Medians are printed; each comparison is measured in the same run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-15}

bash "$top/test/setup.sh" >/dev/null

source "$top/bench/common.sh"
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
now_ms() { date +%s%3N; }

cpsql -c 'CREATE EXTENSION supamon'
echo "== setting up 4 projects x 100 jobs"
for i in 1 2 3 4; do
	ppsql postgres -c "CREATE DATABASE p$i"
	{ cron_schema; echo "INSERT INTO cron.job (schedule, command, jobname) SELECT '* * * * *', 'SELECT ' || j, 'job' || j FROM generate_series(1, 100) j;"; } | ppsql "p$i" >/dev/null
	cpsql -c "SELECT supamon_add_project('p$i', 'host=$dir port=$project_port dbname=p$i user=postgres')" >/dev/null
done

new_runs_sql="INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
	SELECT j, 'succeeded', '1 row', now(), now() FROM generate_series(1, 100) j;"
seven_days="COPY (SELECT * FROM cron.job_run_details WHERE start_time > now() - interval '7 days') TO STDOUT"

declare -A supamon_ms original_ms
for size in 10000 100000 1000000; do
	echo "== $size history rows per project"
	for i in 1 2 3 4; do
		ppsql "p$i" -c "TRUNCATE cron.job_run_details RESTART IDENTITY" -c "
			INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
			SELECT 1 + g % 100, CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'succeeded' END,
				CASE WHEN g % 50 = 0 THEN 'ERROR:  something' ELSE '1 row' END,
				now() - (($size - g) * interval '7 days' / $size),
				now() - (($size - g) * interval '7 days' / $size) + interval '1 second'
			FROM generate_series(1, $size) g" -c "VACUUM ANALYZE cron.job_run_details" >/dev/null
	done
	cpsql -c "UPDATE supamon.project SET run_high_water = NULL, open_run_ids = '{}'"
	first=$(timed cpsql -c "SELECT count(*) FROM supamon_audit()")
	echo "   first contact (latest run per job only): $first ms"
	s=() o=()
	for ((r = 0; r < rounds; r++)); do
		for i in 1 2 3 4; do ppsql "p$i" -c "$new_runs_sql" >/dev/null; done
		s+=("$(timed cpsql -c "SELECT count(*) FROM supamon_audit()")")
		t=$(now_ms)
		for i in 1 2 3 4; do ppsql "p$i" -c "$seven_days" >/dev/null; done
		o+=("$(($(now_ms) - t))")
	done
	supamon_ms[$size]=$(printf '%s\n' "${s[@]}" | median)
	original_ms[$size]=$(printf '%s\n' "${o[@]}" | median)
	printf '   supamon audit: median %.1f ms    original plan (7 days, 4 projects): median %.1f ms    ratio %.3f\n' \
		"${supamon_ms[$size]}" "${original_ms[$size]}" "$(ratio "${supamon_ms[$size]}" "${original_ms[$size]}")"
done
printf '== steady-state audit, 1M / 10k history: %.2f (target <= 1.2)\n' \
	"$(ratio "${supamon_ms[1000000]}" "${supamon_ms[10000]}")"

cpsql -c "UPDATE supamon.project SET enabled = false"
for i in $(seq 1 20); do
	ppsql postgres -c "CREATE DATABASE s$i"
	{ cron_schema; echo "ALTER TABLE cron.job RENAME TO job_t; CREATE VIEW cron.job AS SELECT j.* FROM cron.job_t j, pg_sleep(0.2);
		INSERT INTO cron.job_t (schedule, command, jobname) SELECT '*/5 * * * *', 'SELECT 1', 'job' || j FROM generate_series(1, 10) j;"; } | ppsql "s$i" >/dev/null
	cpsql -c "SELECT supamon_add_project('s$i', 'host=$dir port=$project_port dbname=s$i user=postgres')" >/dev/null
done
# The project servers' own CPU (a new backend per connection) runs on the
# same cores as everything else here; a longer sleep shows how much of the
# gap is that.
for sleep in 0.2 1; do
	for i in $(seq 1 20); do
		ppsql "s$i" -c "CREATE OR REPLACE VIEW cron.job AS SELECT j.* FROM cron.job_t j, pg_sleep($sleep)"
	done
	echo "== 20 slow projects (cron.job answers after $sleep s)"
	one=() all=()
	for ((r = 0; r < 7; r++)); do
		one+=("$(timed cpsql -c "SELECT count(*) FROM supamon_audit('s1')")")
		all+=("$(timed cpsql -c "SELECT count(*) FROM supamon_audit()")")
	done
	one_ms=$(printf '%s\n' "${one[@]}" | median)
	all_ms=$(printf '%s\n' "${all[@]}" | median)
	printf '   one slow project: median %.1f ms    all 20: median %.1f ms    ratio %.2f (target <= 1.5)\n' \
		"$one_ms" "$all_ms" "$(ratio "$all_ms" "$one_ms")"
done
