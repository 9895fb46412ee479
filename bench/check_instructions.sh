#!/usr/bin/env bash
# What a check costs the central backend per project, in instructions
# (valgrind's callgrind): a count that the machine's noise does not move,
# where CPU time on a shared 2-core machine moves by half between passes.
#
#   bash bench/check_instructions.sh [ROUNDS]   (as root; ROUNDS defaults to 2;
#                                                PROJECTS=50 JOBS=20)
#
# CENTRAL_SQL, if set, runs on the central database right after CREATE
# EXTENSION (to try a change of the schema, say).
#
# PROJECTS databases of JOBS jobs each on one project cluster, registered
# and checked twice on a running central cluster.  That cluster is then
# stopped and each measured check runs in a single-user backend under
# callgrind (no collector there: the backend connects to the projects
# itself, as a check does without supamon preloaded).  Each round: one new
# finished run per job, a check ("new"); then a check with nothing new
# ("idle").  Per check and project, the instructions of
#   check:  all of supamon_check_health (connecting to the projects included);
#   record: recording and deciding the projects (audit.c's record_one), the
#           part the collector does not change.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-2}
projects=${PROJECTS:-50}
jobs=${JOBS:-20}

bash "$top/test/setup.sh" >/dev/null
command -v valgrind >/dev/null || {
	apt-get install -y -q valgrind >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get install -y -q valgrind >/dev/null; }
}
bench_before_start() {
	[ "$1" = projects ] && echo "max_connections = $((projects + 50))" >>"$2/postgresql.conf"
	true
}
source "$top/bench/common.sh"

project_fleet "$projects" "$jobs"
for i in $(seq "$projects"); do
	echo "\\c p$i"
	echo "INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
		SELECT jobid, 'succeeded', '1 row', now(), now() FROM cron.job;"
done >"$dir/new_runs.sql"
chown postgres: "$dir/new_runs.sql"
new_runs() { PGOPTIONS= as_pg "$bindir/psql" -X -q -h "$dir" -p "$project_port" -U postgres -d postgres -f "$dir/new_runs.sql" >/dev/null; }

# first contact, then a steady check, not counted
cpsql -c "SELECT supamon_check_health()" >/dev/null
new_runs
cpsql -c "SELECT supamon_check_health()" >/dev/null
as_pg "$bindir/pg_ctl" -D "$dir/central" -w stop >/dev/null

measure() {
	local tag=$1 out="$dir/cg.$1"
	echo "SELECT (supamon_check_health() ->> 'total_jobs') AS jobs;" |
		as_pg valgrind --tool=callgrind --callgrind-out-file="$out" \
			--toggle-collect=supamon_check_health \
			"$bindir/postgres" --single -D "$dir/central" -c shared_preload_libraries= \
			-c log_min_messages=warning postgres >"$dir/out.$tag" 2>"$dir/err.$tag"
	# the check must have seen every job: a failed check costs little
	grep -q "jobs = \"$((projects * jobs))\"" "$dir/out.$tag" || {
		echo "the $tag check did not see $((projects * jobs)) jobs:" >&2
		grep -E "ERROR|FATAL|jobs =" "$dir/out.$tag" "$dir/err.$tag" >&2
		exit 1
	}
	local check record
	check=$(callgrind_annotate "$out" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
	# (awk reads it all: one that stops early fails the pipe)
	record=$(callgrind_annotate --inclusive=yes "$out" | awk '/:record_one / && !done {gsub(",", "", $1); print $1; done = 1}')
	echo "$tag $((check / projects)) $((record / projects))" >>"$dir/results"
}
echo "== $projects projects x $jobs jobs, $rounds rounds"
for ((r = 0; r < rounds; r++)); do
	new_runs
	measure new
	measure idle
done
awk '
function median(a, k,   i, j, t) {
	for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
{ k = ++n[$1]; c[$1, k] = $2; r[$1, k] = $3 }
END {
	printf "%-6s %6s %22s %22s\n", "check", "checks", "check instr/project", "record instr/project"
	for (ti = 1; ti <= 2; ti++) {
		t = ti == 1 ? "new" : "idle"
		for (i = 1; i <= n[t]; i++) { a[i] = c[t, i]; b[i] = r[t, i] }
		printf "%-6s %6d %22d %22d\n", t, n[t], median(a, n[t]), median(b, n[t])
	}
}' "$dir/results"
