#!/usr/bin/env bash
# Benchmark of the Management API side of a check, on a real server started
# here.
#
#   bash bench/edge.sh [ROUNDS]      (as root; ROUNDS defaults to 3)
#   PROJECTS=50 FUNCTIONS=10 API_DELAY=0.05 bash bench/edge.sh
#
# A whole `SELECT supamon_check_health()` of PROJECTS projects, each with a
# supabase_ref and FUNCTIONS Edge Functions (all ACTIVE, with traffic), against
# the fake Management API of test/receiver.py on 127.0.0.1, which answers every
# request after API_DELAY seconds (a real API round trip).  Each check asks
# PROJECTS * (1 + FUNCTIONS) questions: its function list, then
# one functions.combined-stats per function.  The projects' databases are all
# one small database (a hand-made cron schema, a few jobs) on the "projects"
# cluster, under distinct project names.
#
# Side by side, alternating round by round: (a) the default concurrency
# (supamon.max_connections = 20: 20 API calls in flight, 4 a project) and
# (b) supamon.max_connections = 1 (2 API calls in flight, and one database at
# a time).  Then one check (c) without a token (supamon.supabase_access_token
# = ''), at each setting: what the database side alone costs.  Printed per
# variant: median check time, Management API requests per check and the peak
# in flight (from the receiver's record: every request's arrival "t" and
# answer "done"), and the ratio (b)/(a).
#
# supamon.http_timeout (the Edge side's deadline in a check) is raised to
# 120 s, so that even (b) reads everything: what is timed is the work.
#
# Every check is verified, so a broken run is never timed: each round the fake
# API's traffic figures change, and after each check every function must be
# success with this check's figures (stats_at of this check, no stats_error),
# every project reachable with its list read without error, and the receiver
# must have answered exactly PROJECTS * (1 + FUNCTIONS) requests, all 200
# (a project whose database answers is not asked for its status).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
projects=${PROJECTS:-50}
functions=${FUNCTIONS:-10}
delay=${API_DELAY:-0.05}
token=sbp_bench_0123456789abcdef0123456789abcdef01234567

bash "$top/test/setup.sh" >/dev/null

source "$top/bench/common.sh"
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# runuser itself in the background (not as_pg, a function: its subshell would
# be what $! names), so that the TERM it forwards ends the receiver
runuser -u postgres -- python3 "$top/test/receiver.py" --portfile "$dir/receiver.port" \
	--record "$dir/receiver.jsonl" --max-seconds 3600 >/dev/null 2>&1 &
receiver=$!
trap '{ kill $receiver && wait $receiver; } 2>/dev/null || true; stop_all' EXIT
for _ in $(seq 100); do [ -s "$dir/receiver.port" ] && break; sleep 0.1; done
port=$(cat "$dir/receiver.port")

# POST a JSON body to the receiver's control routes
post() {
	python3 - "http://127.0.0.1:$port$1" "$2" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(),
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req) as r:
    if r.status != 200:
        sys.exit(f"{sys.argv[1]}: HTTP {r.status}")
PY
}
# The fake API's whole state: every project's functions answer `requests`
# requests, none failed.
api_state() {
	local requests=$1
	post /_api "$(python3 - "$projects" "$functions" "$requests" "$token" <<'PY'
import json, sys
n, f, req, token = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
slugs = [f"fn{k}" for k in range(1, f + 1)]
print(json.dumps({"token": token, "projects": {
    f"ref{i:04d}": {"status": "ACTIVE_HEALTHY",
                    "functions": [{"slug": s} for s in slugs],
                    "stats": {s: {"requests": req, "server_errors": 0} for s in slugs}}
    for i in range(1, n + 1)}}))
PY
)"
}
post /_control "{\"match\": \"/v1/projects/\", \"behaviours\": [{\"delay\": $delay}], \"repeat_last\": true}"

ppsql postgres -c "CREATE DATABASE fleet" >/dev/null
ppsql fleet >/dev/null <<'SQL'
CREATE SCHEMA cron;
CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL,
	command text NOT NULL, nodename text NOT NULL DEFAULT 'localhost',
	nodeport int NOT NULL DEFAULT 5432, database text NOT NULL DEFAULT current_database(),
	username text NOT NULL DEFAULT current_user, active boolean NOT NULL DEFAULT true,
	jobname name);
CREATE TABLE cron.job_run_details (jobid bigint, runid bigserial PRIMARY KEY,
	job_pid int, database text, username text, command text, status text,
	return_message text, start_time timestamptz, end_time timestamptz);
INSERT INTO cron.job (schedule, command, jobname)
SELECT '*/5 * * * *', 'SELECT ' || i, 'job-' || i FROM generate_series(1, 3) i;
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT jobid, 'succeeded', '1 row', now() - interval '1 minute', now() FROM cron.job;
SQL
cpsql -c "CREATE EXTENSION supamon" \
	-c "ALTER SYSTEM SET supamon.management_api_url = 'http://127.0.0.1:$port'" \
	-c "ALTER SYSTEM SET supamon.repeat_interval = '1h'" \
	-c "ALTER SYSTEM SET supamon.http_timeout = '120s'" \
	-c "SELECT pg_reload_conf()" \
	-c "SELECT supamon_add_project(format('p%s', lpad(i::text, 4, '0')),
		'host=$dir port=$project_port dbname=fleet', format('ref%s', lpad(i::text, 4, '0')))
		FROM generate_series(1, $projects) i" >/dev/null

# The receiver's record since byte $1: "requests peak peak_per_project not_200"
traffic() {
	tail -c +"$(($1 + 1))" "$dir/receiver.jsonl" | python3 -c '
import json, sys
calls = [e for e in map(json.loads, sys.stdin) if e["kind"] == "management_api"]
def peak(cs):
    # an answer that ends when another arrives is not in flight with it
    events = sorted([(c["t"], 1) for c in cs] + [(c["done"], -1) for c in cs])
    now = best = 0
    for _, d in events:
        now += d
        best = max(best, now)
    return best
by_ref = {}
for c in calls:
    by_ref.setdefault(c["path"].split("/")[3], []).append(c)
print(len(calls), peak(calls), max([peak(v) for v in by_ref.values()] or [0]),
      sum(c["status"] != 200 for c in calls))'
}

checks=0
# One timed check; sets ms, requests, peak, peak_project; exits if the check
# did not read everything.
check() {
	local conns=$1 with_token=$2 before offset expect_req got not_ok
	checks=$((checks + 1))
	expect_req=$((1000 + checks))  # this check's traffic figure: new each time
	[ "$with_token" = yes ] && api_state "$expect_req"
	before=$(cpsql -c "SELECT clock_timestamp()")
	offset=$(stat -c %s "$dir/receiver.jsonl")
	ms=$(timed cpsql -c "SET supamon.max_connections = $conns" \
		-c "SET supamon.supabase_access_token = '$([ "$with_token" = yes ] && echo "$token")'" \
		-c "SELECT supamon_check_health()")
	read -r requests peak peak_project not_ok <<<"$(traffic "$offset")"
	fail() { echo "check $checks (max_connections $conns, token $with_token): $*" >&2; exit 1; }
	[ -n "$ms" ] || fail "no time: the check failed"
	# every project checked now, reachable, and (with a token) its list read
	got=$(cpsql -c "SELECT count(*) FROM supamon.project WHERE last_check_at >= '$before' AND reachable
		AND ('$with_token' = 'no' OR (edge_checked_at >= '$before' AND edge_error IS NULL))")
	[ "$got" = "$projects" ] || fail "$got of $projects projects checked as expected"
	got=$(cpsql -c "SELECT count(*) FROM supamon.job_inventory WHERE job_type = 'pg_cron' AND removed_at IS NULL")
	[ "$got" = $((projects * 3)) ] || fail "$got of $((projects * 3)) pg_cron jobs"
	if [ "$with_token" = yes ]; then
		# every function listed, its traffic read by this check, success
		got=$(cpsql -c "SELECT count(*) FROM supamon.job_inventory WHERE job_type = 'edge_function'
			AND removed_at IS NULL AND status = 'success' AND function_status = 'ACTIVE'
			AND requests = $expect_req AND server_errors = 0 AND stats_at >= '$before' AND stats_error IS NULL")
		[ "$got" = $((projects * functions)) ] || fail "$got of $((projects * functions)) Edge Functions read and success"
		[ "$requests" = $((projects * (1 + functions))) ] && [ "$not_ok" = 0 ] ||
			fail "$requests API requests ($not_ok not 200), want $((projects * (1 + functions)))"
	else
		[ "$requests" = 0 ] || fail "$requests API requests without a token"
	fi
}

# the first check fills the inventory: not timed
check 20 yes
check 1 yes
a_ms=() b_ms=()
for r in $(seq "$rounds"); do
	check 20 yes; a_ms+=("$ms"); a_req=$requests a_peak=$((peak > ${a_peak:-0} ? peak : ${a_peak:-0})) a_pp=$((peak_project > ${a_pp:-0} ? peak_project : ${a_pp:-0}))
	check 1 yes; b_ms+=("$ms"); b_req=$requests b_peak=$((peak > ${b_peak:-0} ? peak : ${b_peak:-0})) b_pp=$((peak_project > ${b_pp:-0} ? peak_project : ${b_pp:-0}))
done
check 20 no; c20=$ms
check 1 no; c1=$ms

ma=$(printf '%s\n' "${a_ms[@]}" | median)
mb=$(printf '%s\n' "${b_ms[@]}" | median)
# what API_DELAY alone costs with that many calls in flight
floor() { awk -v n="$1" -v d="$delay" -v p="$2" 'BEGIN { printf "%.0f", (p > 0 ? n * d * 1000 / p : 0) }'; }
echo "check of $projects projects x $functions Edge Functions, API answering after ${delay}s; $rounds rounds, medians"
echo "  (a) max_connections 20: $ma ms   [${a_ms[*]}]"
echo "      $a_req API requests a check, peak $a_peak in flight ($a_pp for one project); delay alone at that: $(floor "$a_req" "$a_peak") ms"
echo "  (b) max_connections 1:  $mb ms   [${b_ms[*]}]"
echo "      $b_req API requests a check, peak $b_peak in flight ($b_pp for one project); delay alone at that: $(floor "$b_req" "$b_peak") ms"
echo "  (c) no token, databases only (one check): $c20 ms at max_connections 20, $c1 ms at 1"
echo "  (b) / (a): $(ratio "$mb" "$ma")"
