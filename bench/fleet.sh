#!/usr/bin/env bash
# Benchmark of a check at fleet scale, through network latency, with TLS.
#
#   bash bench/fleet.sh [ROUNDS]      (as root; ROUNDS defaults to 5)
#   SIZES="50 200" DELAYS="20 40" JOBS=20 TLS=1 CLUSTERS=1 FRESH=1 bash bench/fleet.sh 5
#   SIZES=1000 DELAYS=40 CLUSTERS=10 FRESH=0 bash bench/fleet.sh 3
#
# A project cluster listening on 127.0.0.1 with ssl = on (a self-signed
# certificate made here), scram-sha-256 passwords and only
#   hostssl all bench 127.0.0.1/32 scram-sha-256
# holds N databases, each with a hand-made cron schema of JOBS jobs
# ('* * * * *', each with finished runs).  They are registered in the central
# cluster (supamon preloaded, so its worker runs) as N projects reached
# through bench/latency_proxy.py, which adds DELAY ms one way to every chunk
# (a round trip costs 2 x DELAY) and also charges the TCP handshake's round
# trip (--handshake), with sslmode=require.  Before each round every job gets
# one new finished run: each check reads JOBS new runs per project.
#
# CLUSTERS=K (default 1) spreads the N databases over K such project
# clusters, project i in cluster ((i - 1) mod K) + 1 (so every size in SIZES
# is spread evenly), each with its own port, certificate, pg_hba.conf,
# max_connections for its share, database template, and its own proxy
# process (same DELAY) in front of it.  Why: a real project is its own
# server with a few dozen backends, while one cluster holding the whole
# fleet has two backends per project (supamon's kept connection and the
# floor's), and every project's query reads pg_stat_get_activity(NULL),
# which copies every backend slot of the cluster: each query pays for the
# whole fleet, and the project side of a check grows as N squared.  On a
# throwaway PostgreSQL 15 cluster, one session (pgbench): that read takes 0.06 ms
# beside 6 backends, 1.9 ms beside 1,000 idle ones and 4.8 ms beside 2,000;
# the floor's whole query 1.3-1.8 ms, 4.3 ms and 8.7 ms.  K clusters each
# hold N/K projects' backends.  Project clusters get shared_buffers = 512MB
# with K = 1 (as before), 256MB each with K > 1 (PROJECT_SHARED_BUFFERS sets
# it).  Project-cluster CPU is summed over all K clusters, proxy CPU over
# all K proxies; a pass's lateness is the worst proxy's (median, p99, max).
#
# PROJECT_NICE=N (default 0) runs the project servers at that nice level:
# on this machine they share two cores with the central server, the floor
# and the proxies, and a check records its projects in one backend, which
# then gets a share of the CPU like each of the hundred project backends
# answering at the same time; in production the projects run on servers of
# their own.  The floor's client is not niced either, like the central
# server: both are measured under the same rule.
#
# FRESH=0 (default 1) skips the "fresh" floor (below), which at N=1000 costs
# tens of seconds a round: "skipped" is printed in its place.
#
# Per (N, DELAY): one warm-up check, then ROUNDS timed checks, each in a
# fresh psql session.  Measured per check: its time (psql's \timing); the CPU
# of the whole central cluster (utime + stime of the postmaster and every
# process under it, the reaped ones included through the postmaster's
# cutime + cstime, from /proc before and after), per project; the VmHWM of
# the backend that ran it (read by that backend from /proc/self/status at the
# end of its session); the largest VmRSS / VmHWM of any supamon background
# process.  Every check is verified: all N projects reachable and checked by
# it, N x JOBS runs logged by it.
#
# Side by side, in the same rounds: the floor, bench/fleet_floor.c (built
# here against libpq), a bare non-blocking libpq client sending the same
# kind of query to the same N projects through the same proxy at the same
# concurrency (supamon.max_connections, read from the server): "fresh"
# (connect, query, read, close, every round) and "kept" (connections opened
# once, then only the query).  Before the passes, the proxy itself is
# checked: the floor direct against the floor through the proxy at delay 0
# (each project directly to its own cluster, or through that cluster's proxy).
# After each pass: the proxy's CPU per check and how late its chunks left
# their due times (whether it kept up), the project cluster's CPU per
# project, and the CPU the hypervisor stole from this VM meanwhile.
# At the end, a model: check time = a + b x N per delay, fitted to the sizes,
# and the 1,000-project time it predicts at 40 ms (or the largest delay).
#
# Nothing here depends on how supamon reaches its projects: a version that
# keeps their connections open in a background process is measured the same
# way (that process's CPU and memory are the central cluster's; the project
# cluster makes room for its N connections beside the floor's).
#
# Everything started here (servers, proxies, floors) is stopped and removed
# on exit, also on an error, Ctrl-C or SIGTERM.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
sizes=${SIZES:-50 200}
delays=${DELAYS:-20 40}
jobs=${JOBS:-20}
tls=${TLS:-1}
clusters=${CLUSTERS:-1}
project_nice=${PROJECT_NICE:-0}
fresh=${FRESH:-1}
python=/usr/bin/python3
password=bench-$$-$RANDOM$RANDOM
clk_tck=$(getconf CLK_TCK)

started=$(date +%s)
max_n=0
for n in $sizes; do [ "$n" -gt "$max_n" ] && max_n=$n; done
[ "$max_n" -gt 0 ] || { echo "SIZES: no size" >&2; exit 2; }
[[ "$clusters" =~ ^[1-9][0-9]*$ ]] && [ "$clusters" -le "$max_n" ] ||
	{ echo "CLUSTERS: want 1 to $max_n (the largest size), not \"$clusters\"" >&2; exit 2; }
[ "$fresh" = 0 ] || [ "$fresh" = 1 ] || { echo "FRESH: want 0 or 1" >&2; exit 2; }
# the most projects one project cluster holds (project i is in cluster
# ((i - 1) mod CLUSTERS) + 1)
share=$(((max_n + clusters - 1) / clusters))
# one project cluster keeps today's 512MB (common.sh); with more, 256MB each:
# a project database's catalogs and cron tables, once connected to and read,
# hold about 2.5 MB of shared buffers here, so 100 projects a cluster fit
# (shared buffers take memory only as they are used)
project_shared_buffers=${PROJECT_SHARED_BUFFERS:-$([ "$clusters" = 1 ] && echo 512MB || echo 256MB)}

bash "$top/test/setup.sh" >/dev/null
echo "== supamon built and installed with $(command -v pg_config) (bindir $(pg_config --bindir))"

# A project cluster ("projects", then "projects2".."projectsK"): TCP on
# 127.0.0.1 only, TLS (its own certificate), passwords.  Room for its share of
# N connections of supamon (a version that keeps them open), its share of N
# kept by the floor, and the fresh ones of both (see below), with a margin.
bench_before_start() {
	local name=$1 data=$2
	case $name in projects*) ;; *) return 0 ;; esac
	if [ "$tls" = 1 ]; then
		openssl req -new -x509 -days 2 -nodes -newkey rsa:2048 -subj "/CN=127.0.0.1" \
			-keyout "$data/server.key" -out "$data/server.crt" 2>/dev/null
		chown postgres: "$data/server.key" "$data/server.crt"
		chmod 600 "$data/server.key"
	fi
	cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
max_connections = $((2 * share + 100))
shared_buffers = $project_shared_buffers
password_encryption = 'scram-sha-256'
ssl = $([ "$tls" = 1 ] && echo on || echo off)
CONF
	# the superuser through the socket (set-up), the projects' role by TLS only
	printf 'local all postgres trust\n%s all bench 127.0.0.1/32 scram-sha-256\n' \
		"$([ "$tls" = 1 ] && echo hostssl || echo host)" >"$data/pg_hba.conf"
}
BENCH_PORT=57000
source "$top/bench/common.sh"
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
maximum() { sort -g | tail -n 1; }

# ---- what this script starts besides the clusters, stopped by cleanup ----
declare -A proxy_pid=() floor_pid=() floor_in=() floor_out=()
starting=()   # project clusters being started in the background
cleanup() {
	# (a cluster still starting finishes, so that stop_all stops it)
	if [ ${#starting[@]} -gt 0 ]; then wait "${starting[@]}" 2>/dev/null || true; fi
	# (runuser forwards the TERM to its proxy and waits for it)
	local pids=("${floor_pid[@]}" "${proxy_pid[@]}")
	if [ ${#pids[@]} -gt 0 ]; then
		kill "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
	stop_all
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the project clusters: common.sh started the first, "projects" ----
pname=([1]=projects) pport=([1]=$project_port)
for k in $(seq 2 "$clusters"); do
	pname[k]=projects$k
	pport[k]=$(free_port $((pport[k - 1] + 1)))
done
if [ "$clusters" -gt 1 ]; then
	# in parallel (initdb, a certificate and a start each); stop_all stops them
	for k in $(seq 2 "$clusters"); do
		start_cluster "${pname[k]}" "${pport[k]}" '' &
		starting+=($!)
	done
	for pid in "${starting[@]}"; do wait "$pid" || { echo "a project cluster did not start" >&2; exit 1; }; done
	starting=()
fi
# psql as the superuser on project cluster $1, database $2
kpsql() { local k=$1 db=$2; shift 2; as_pg "$bindir/psql" -X -q -At -h "$dir" -p "${pport[k]}" -U postgres -d "$db" "$@"; }
# the projects of cluster $1 among p1..p$2
cluster_projects() { seq "$1" "$clusters" "$2"; }
# Clock ticks of all the project clusters (see cluster_ticks).
projects_ticks() {
	local k t=0
	for k in $(seq "$clusters"); do t=$((t + $(cluster_ticks "${pname[k]}"))); done
	echo "$t"
}

# The proxies named $1 ("$1.1".."$1.K"), one per project cluster, $2 ms one
# way; proxy_port["$1.$k"] is the port of cluster k's.  One process per
# cluster: each has a share of the connections, and together they can use
# both cores, where one Python event loop is held to one.
declare -A proxy_port=()
proxy_start() {
	local name=$1 delay=$2 k port=${pport[clusters]}
	for k in $(seq "$clusters"); do
		port=$(free_port $((port + 1)))
		proxy_start_one "$name.$k" "$delay" "$port" "${pport[k]}"
	done
	for k in $(seq "$clusters"); do
		for _ in $(seq 100); do [ -s "$dir/$name.$k.port" ] && break; sleep 0.05; done
		[ -s "$dir/$name.$k.port" ] || { echo "proxy $name.$k did not start:" >&2; cat "$dir/$name.$k.log" >&2; exit 1; }
	done
}
proxy_start_one() {
	local name=$1 delay=$2 port=$3 target=$4
	proxy_port[$name]=$port
	# runuser itself in the background (not as_pg, a function: its subshell
	# would be what $! names), so that the TERM it forwards ends the proxy.
	# Niced up: it stands for a network, which the servers' CPU does not
	# hold back (its chunks still leave a few ms late at the 99th percentile
	# when the two cores are busy; it says so at the end of each pass).
	nice -n -10 runuser -u postgres -- "$python" "$top/bench/latency_proxy.py" --listen "127.0.0.1:$port" \
		--target "127.0.0.1:$target" --delay-ms "$delay" --handshake \
		--ready-file "$dir/$name.port" >"$dir/$name.log" 2>&1 &
	proxy_pid[$name]=$!
}
proxy_stop() {
	local name=$1 k
	for k in $(seq "$clusters"); do
		kill "${proxy_pid[$name.$k]}" && wait "${proxy_pid[$name.$k]}" || true
		unset "proxy_pid[$name.$k]" "proxy_port[$name.$k]"
		rm -f "$dir/$name.$k.port"
	done
}
# A proxy's own process (runuser's child), for its CPU.
proxy_process() { pgrep -P "${proxy_pid[$1]}" | head -n 1; }
# Clock ticks of all the proxies named $1 so far.
proxy_ticks() {
	local k t=0
	for k in $(seq "$clusters"); do t=$((t + $(process_ticks "$(proxy_process "$1.$k")"))); done
	echo "$t"
}
# How late the proxies' chunks left their due times, from their SIGUSR1
# reports: "chunks median p99 max" (ms), the chunks of all of them, and the
# worst proxy's median, p99 and max (one proxy, CLUSTERS=1: its own).  A proxy
# that kept up is late by a fraction of a millisecond.
proxy_lateness() {
	local name=$1 k line
	for k in $(seq "$clusters"); do kill -USR1 "$(proxy_process "$name.$k")"; done
	for k in $(seq "$clusters"); do
		for _ in $(seq 50); do
			line=$(grep 'chunks, late by' "$dir/$name.$k.log" | tail -n 1 || true)
			[ -n "$line" ] && break
			sleep 0.05
		done
		sed -n 's/.*: \([0-9]*\) chunks, late by median \([-0-9.]*\) ms, p99 \([-0-9.]*\) ms, max \([-0-9.]*\) ms/\1 \2 \3 \4/p' <<<"$line"
	done | awk 'function mx(a, b) { return (NR == 1 || b > a) ? b : a }
		{ c += $1; m = mx(m, $2); p = mx(p, $3); x = mx(x, $4) } END { print c, m, p, x }'
}

# A floor named $1 over the connection strings in file $2, driven through two
# FIFOs; floor_cmd NAME COMMAND sets floor_ms and floor_runs from its answer
# (in this shell, not a subshell, so that a failure ends the script).
floor_start() {
	local name=$1 file=$2 fd
	mkfifo "$dir/$name.in" "$dir/$name.out"
	"$dir/fleet_floor" "$file" "$concurrency" <"$dir/$name.in" >"$dir/$name.out" 2>>"$dir/floor.err" &
	floor_pid[$name]=$!
	exec {fd}>"$dir/$name.in"
	floor_in[$name]=$fd
	exec {fd}<"$dir/$name.out"
	floor_out[$name]=$fd
}
floor_cmd() {
	local name=$1 cmd=$2 line
	echo "$cmd" >&"${floor_in[$name]}"
	if ! read -r line <&"${floor_out[$name]}"; then
		echo "floor $name failed on \"$cmd\":" >&2
		cat "$dir/floor.err" >&2
		exit 1
	fi
	floor_runs=
	read -r floor_ms floor_runs <<<"$line"
}
floor_stop() {
	local name=$1 fd
	echo quit >&"${floor_in[$name]}"
	wait "${floor_pid[$name]}" || { echo "floor $name failed:" >&2; cat "$dir/floor.err" >&2; exit 1; }
	fd=${floor_in[$name]}
	exec {fd}>&-
	fd=${floor_out[$name]}
	exec {fd}<&-
	unset "floor_pid[$name]" "floor_in[$name]" "floor_out[$name]"
	rm -f "$dir/$name.in" "$dir/$name.out"
}

# Clock ticks of a cluster's processes so far: the postmaster's own and its
# reaped children's (cutime, cstime), and every live process under it.  The
# children are read before the postmaster, so one that is reaped in between
# is counted twice (rare, and small) rather than not at all.
cluster_ticks() {
	local pm children
	pm=$(head -n 1 "$dir/$1/postmaster.pid")
	children=$(pgrep -P "$pm" | sed 's|.*|/proc/&/stat|' | tr '\n' ' ' || true)
	# shellcheck disable=SC2086
	{ cat $children 2>/dev/null || true; cat "/proc/$pm/stat"; } |
		sed 's/^.*) //' | awk '{ t += $12 + $13 + $14 + $15 } END { print t }'
}
# Ticks of one process (its own).
process_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# The supamon background processes of the central cluster: "rss hwm" in kB
# of the largest.
supamon_processes_memory() {
	local pm pid rss=0 hwm=0 r h
	pm=$(head -n 1 "$dir/central/postmaster.pid")
	for pid in $(pgrep -P "$pm" || true); do
		grep -qa supamon "/proc/$pid/cmdline" 2>/dev/null || continue
		r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
		h=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ "${r:-0}" -gt "$rss" ] && rss=$r
		[ "${h:-0}" -gt "$hwm" ] && hwm=$h
	done
	echo "$rss $hwm"
}

# Clock ticks the hypervisor took from this VM's CPUs so far (steal): a pass
# with much of it was measured on a machine that stood still at times.
steal_ticks() { awk '/^cpu / { print $9 }' /proc/stat; }
ms_of_ticks() { awk -v t="$1" -v hz="$clk_tck" -v n="$2" 'BEGIN { printf "%.2f", t * 1000 / hz / n }'; }

# ---- the projects ----
gcc -O2 -Wall -Wextra -Werror -I"$(pg_config --includedir)" -o "$dir/fleet_floor" \
	"$top/bench/fleet_floor.c" -L"$(pg_config --libdir)" -lpq

echo "== $max_n project databases x $jobs jobs (TLS=$tls) in $clusters project cluster(s), project i in cluster ((i - 1) mod $clusters) + 1"
t0=$(date +%s)
for k in $(seq "$clusters"); do
kpsql "$k" postgres -c "CREATE ROLE bench LOGIN PASSWORD '$password'" -c "CREATE DATABASE tmpl" >/dev/null
{
	cron_schema
	cat <<SQL
INSERT INTO cron.job (schedule, command, jobname)
SELECT '* * * * *', 'SELECT ' || j, 'job-' || j FROM generate_series(1, $jobs) j;
-- ten minutes of history: one finished run a minute per job
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT j, 'succeeded', '1 row', now() - m * interval '1 minute', now() - m * interval '1 minute' + interval '1 second'
FROM generate_series(1, $jobs) j, generate_series(10, 1, -1) m ORDER BY m DESC, j;
GRANT USAGE ON SCHEMA cron TO bench;
GRANT SELECT ON ALL TABLES IN SCHEMA cron TO bench;
VACUUM ANALYZE;
SQL
} | kpsql "$k" tmpl >/dev/null
for i in $(cluster_projects "$k" "$max_n"); do echo "CREATE DATABASE p$i TEMPLATE tmpl;"; done | kpsql "$k" postgres >/dev/null
done
echo "   made in $(($(date +%s) - t0)) s"

# One new finished run per job in projects 1..$1, one session per cluster.
new_runs() {
	local n=$1 i k
	for k in $(seq "$clusters"); do
		for i in $(cluster_projects "$k" "$n"); do
			printf '\\connect p%d\n' "$i"
			echo "INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
				SELECT jobid, 'succeeded', '1 row', now() - interval '1 second', now() FROM cron.job;"
		done | kpsql "$k" postgres >/dev/null
	done
}
sslmode=$([ "$tls" = 1 ] && echo require || echo disable)
conninfo() { echo "host=127.0.0.1 port=$1 dbname=p$2 user=bench password=$password sslmode=$sslmode"; }
# The ports of projects' clusters ("direct") or of the proxies named $1 to
# them, in cluster order, comma-separated.
ports_of() {
	local k sep=
	for k in $(seq "$clusters"); do
		if [ "$1" = direct ]; then printf '%s%s' "$sep" "${pport[k]}"; else printf '%s%s' "$sep" "${proxy_port[$1.$k]}"; fi
		sep=,
	done
}
# Connection strings of projects 1..$2, each to its cluster directly
# ($1 = direct) or through that cluster's proxy named $1, into file $3.
conninfo_file() {
	local via=$1 n=$2 file=$3 i ports
	IFS=, read -r -a ports <<<"$(ports_of "$via")"
	(umask 077; for i in $(seq "$n"); do conninfo "${ports[(i - 1) % clusters]}" "$i"; done >"$file")
}

cpsql -c 'CREATE EXTENSION supamon' >/dev/null
concurrency=$(cpsql -c 'SHOW supamon.max_connections')
echo "== supamon.max_connections = $concurrency (the floor's concurrency too)"
# At once, at most, in a cluster: its share of N kept by supamon and by a
# floor (or, checking the proxy, two floors'), and C fresh ones of supamon and
# of a floor (all C may be its projects').  The clusters started with room
# for C up to 50; more needs a restart.
need=$((2 * share + 2 * concurrency + 50))
for k in $(seq "$clusters"); do
	if [ "$need" -gt "$(kpsql "$k" postgres -c 'SHOW max_connections')" ]; then
		kpsql "$k" postgres -c "ALTER SYSTEM SET max_connections = $need" >/dev/null
		as_pg "$bindir/pg_ctl" -D "$dir/${pname[k]}" -l "$dir/${pname[k]}.log" -w restart >/dev/null
	fi
done
# PROJECT_NICE: the project servers' processes (and the backends they fork
# from now on) yield the CPU to the central server and the floor, as on
# machines of their own
if [ "$project_nice" != 0 ]; then
	for k in $(seq "$clusters"); do
		pm=$(head -n 1 "$dir/${pname[k]}/postmaster.pid")
		renice -n "$project_nice" -p "$pm" $(pgrep -P "$pm") >/dev/null
	done
	echo "== project servers at nice $project_nice"
fi

# ---- the proxy itself: the floor direct against through it at delay 0 ----
echo "== the proxy at delay 0, N=$max_n, $rounds rounds: the floor direct and through it"
proxy_start check 0
conninfo_file direct "$max_n" "$dir/direct.conninfo"
conninfo_file check "$max_n" "$dir/proxied.conninfo"
floor_start direct "$dir/direct.conninfo"
floor_start proxied "$dir/proxied.conninfo"
floor_cmd direct open
floor_cmd proxied open
# the first round of each reads all the history: not timed
for f in direct proxied; do
	[ "$fresh" = 1 ] && floor_cmd "$f" fresh
	floor_cmd "$f" kept
done
dk=() pk=() df=() pf=()
for r in $(seq "$rounds"); do
	floor_cmd direct kept; dk+=("$floor_ms")
	floor_cmd proxied kept; pk+=("$floor_ms")
	[ "$fresh" = 1 ] || continue
	floor_cmd direct fresh; df+=("$floor_ms")
	floor_cmd proxied fresh; pf+=("$floor_ms")
done
floor_stop direct
floor_stop proxied
read -r chunks late_med late_p99 late_max <<<"$(proxy_lateness check)"
proxy_stop check
proxy_kept_direct=$(printf '%s\n' "${dk[@]}" | median)
proxy_kept_proxied=$(printf '%s\n' "${pk[@]}" | median)
printf '   floor kept:  direct %s ms, through the proxy %s ms (x%s)\n' \
	"$proxy_kept_direct" "$proxy_kept_proxied" "$(ratio "$proxy_kept_proxied" "$proxy_kept_direct")"
if [ "$fresh" = 1 ]; then
	proxy_fresh_direct=$(printf '%s\n' "${df[@]}" | median)
	proxy_fresh_proxied=$(printf '%s\n' "${pf[@]}" | median)
	printf '   floor fresh: direct %s ms, through the proxy %s ms (x%s)\n' \
		"$proxy_fresh_direct" "$proxy_fresh_proxied" "$(ratio "$proxy_fresh_proxied" "$proxy_fresh_direct")"
else
	proxy_fresh_direct=skipped proxy_fresh_proxied=skipped
	echo "   floor fresh: skipped (FRESH=0)"
fi
echo "   the proxy's $chunks chunks$([ "$clusters" = 1 ] || echo " (all $clusters proxies; the worst one's lateness)") left late by median $late_med ms, p99 $late_p99 ms, max $late_max ms"

# ---- the passes ----
# Projects p1..pN registered, each through its cluster's proxy named $2.
register() {
	local n=$1 ports
	ports=$(ports_of "$2")
	cpsql >/dev/null <<SQL
SELECT supamon_remove_project(name) FROM supamon.project WHERE substr(name, 2)::int > $n;
SELECT supamon_set_conninfo(name, format('$(conninfo '%s' '%s')',
	(ARRAY[$ports])[(substr(name, 2)::int - 1) % $clusters + 1], substr(name, 2)))
FROM supamon.project;
SELECT supamon_add_project('p' || i, format('$(conninfo '%s' '%s')', (ARRAY[$ports])[(i - 1) % $clusters + 1], i))
FROM generate_series(1, $n) i WHERE NOT EXISTS (SELECT FROM supamon.project WHERE name = 'p' || i);
SQL
}

# One check in a fresh session; sets check_ms, check_cpu (ticks), check_hwm
# (kB; and, at the end of the session, check_anon and check_shmem: how much
# of its resident memory is its own and how much shared buffers); exits
# unless every project was reached and every new run logged.
timed_check() {
	local n=$1 before out pid before_ticks after_ticks got
	before=$(date -u '+%Y-%m-%d %H:%M:%S.%6N+00')
	before_ticks=$(cluster_ticks central)
	out=$(cpsql -c '\timing on' -c 'SELECT supamon_check_health()' -c '\timing off' \
		-c "SELECT 'backend', pg_backend_pid(), (regexp_match(s, 'VmHWM:\s*(\d+)'))[1],
			(regexp_match(s, 'RssAnon:\s*(\d+)'))[1], (regexp_match(s, 'RssShmem:\s*(\d+)'))[1]
			FROM pg_read_file('/proc/self/status') s")
	check_ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out" | head -n 1)
	read -r _ pid check_hwm check_anon check_shmem <<<"$(grep '^backend|' <<<"$out" | tr '|' ' ')"
	# the session's backend gone (reaped): its CPU is in the postmaster's cutime
	for _ in $(seq 200); do [ -e "/proc/$pid" ] || break; sleep 0.01; done
	after_ticks=$(cluster_ticks central)
	check_cpu=$((after_ticks - before_ticks))
	got=$(cpsql -c "SELECT count(*) FILTER (WHERE last_check_at >= '$before' AND reachable) || ' ' || count(*)
		FROM supamon.project")
	[ "$got" = "$n $n" ] || {
		echo "check: $got projects (reached, registered) of $n:" >&2
		cpsql -c "SELECT name, last_error FROM supamon.project WHERE NOT coalesce(reachable, false) LIMIT 5" >&2
		exit 1
	}
	got=$(cpsql -c "SELECT count(*) FROM supamon.job_health_log WHERE run_id IS NOT NULL AND collected_at >= '$before'")
	[ "$got" = $((n * jobs)) ] || { echo "check: $got runs logged, want $((n * jobs))" >&2; exit 1; }
}

declare -A res_check res_fresh res_kept res_cpu res_hwm res_bg res_pcpu res_proxy res_late
for n in $sizes; do
	for delay in $delays; do
		echo "== N=$n delay=${delay}ms: $rounds rounds after a warm-up"
		t0=$(date +%s)
		steal0=$(steal_ticks)
		key="$n $delay"
		proxy_start "d$delay" "$delay"
		register "$n" "d$delay"
		conninfo_file "d$delay" "$n" "$dir/pass.conninfo"
		floor_start floor "$dir/pass.conninfo"
		floor_cmd floor open
		open_ms=$floor_ms
		new_runs "$n"
		timed_check "$n"
		warm_ms=$check_ms
		[ "$fresh" = 1 ] && floor_cmd floor fresh
		floor_cmd floor kept
		c=() f=() k=() cpu=() hwm=() pcpu=() xcpu=()
		for r in $(seq "$rounds"); do
			new_runs "$n"
			p0=$(projects_ticks)
			x0=$(proxy_ticks "d$delay")
			timed_check "$n"
			x1=$(proxy_ticks "d$delay")
			p1=$(projects_ticks)
			c+=("$check_ms") cpu+=("$(ms_of_ticks "$check_cpu" "$n")") hwm+=("$check_hwm")
			pcpu+=("$(ms_of_ticks $((p1 - p0)) "$n")") xcpu+=("$(ms_of_ticks $((x1 - x0)) 1)")
			if [ "$fresh" = 1 ]; then
				floor_cmd floor fresh
				fms=$floor_ms fruns=$floor_runs
			else
				fms=skipped fruns=$((n * jobs))
			fi
			floor_cmd floor kept
			kms=$floor_ms kruns=$floor_runs
			[ "$fruns" = $((n * jobs)) ] && [ "$kruns" = $((n * jobs)) ] ||
				{ echo "floor read $fruns (fresh) and $kruns (kept) runs, want $((n * jobs))" >&2; exit 1; }
			f+=("$fms") k+=("$kms")
			read -r bg_rss bg_hwm <<<"$(supamon_processes_memory)"
			echo "   round $r: check ${check_ms} ms (central CPU ${cpu[-1]} ms/project, backend VmHWM $((check_hwm / 1024)) MB, at its end $((check_anon / 1024)) MB own + $((check_shmem / 1024)) MB shared), floor fresh $fms$([ "$fresh" = 1 ] && echo ' ms'), kept $kms ms"
		done
		floor_stop floor
		read -r chunks late_med late_p99 late_max <<<"$(proxy_lateness "d$delay")"
		res_late[$key]="$late_med $late_p99 $late_max"
		proxy_stop "d$delay"
		res_check[$key]=$(printf '%s\n' "${c[@]}" | median)
		res_fresh[$key]=$([ "$fresh" = 1 ] && printf '%s\n' "${f[@]}" | median || echo skipped)
		res_kept[$key]=$(printf '%s\n' "${k[@]}" | median)
		res_cpu[$key]=$(printf '%s\n' "${cpu[@]}" | median)
		res_hwm[$key]=$(printf '%s\n' "${hwm[@]}" | maximum)
		res_pcpu[$key]=$(printf '%s\n' "${pcpu[@]}" | median)
		res_proxy[$key]=$(printf '%s\n' "${xcpu[@]}" | median)
		res_bg[$key]="$bg_rss $bg_hwm"
		echo "   warm-up check $warm_ms ms; floor opened $n connections in ${open_ms} ms;" \
			"proxy CPU ${res_proxy[$key]} ms/check; project cluster$([ "$clusters" = 1 ] || echo "s' (all $clusters)") CPU ${res_pcpu[$key]} ms/project/check;" \
			"pass took $(($(date +%s) - t0)) s; load average $(cut -d' ' -f1-3 /proc/loadavg);" \
			"CPU stolen by the hypervisor $(ms_of_ticks $(($(steal_ticks) - steal0)) 1) ms"
	done
done

# ---- the summary ----
# "123 ms" of a number of ms, or "skipped"
ms0() { if [ "$1" = skipped ]; then echo skipped; else printf '%.0f ms' "$1"; fi; }
echo
echo "fleet check, $jobs jobs per project, TLS=$tls, $clusters project cluster(s), supamon.max_connections $concurrency, medians of $rounds rounds" \
	"($(($(date +%s) - started)) s in all; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
echo "proxy check (delay 0, N=$max_n): floor kept direct $proxy_kept_direct ms, through the proxy $proxy_kept_proxied ms;" \
	"$([ "$fresh" = 1 ] && echo "fresh direct $proxy_fresh_direct ms, through the proxy $proxy_fresh_proxied ms" || echo "fresh skipped")"
for n in $sizes; do
	for delay in $delays; do
		key="$n $delay"
		read -r bg_rss bg_hwm <<<"${res_bg[$key]}"
		printf 'N=%s delay=%sms  check median %.0f ms  floor fresh %s  floor kept %.0f ms  ratio %s  cpu/project %s ms  backend peak %.0f MB  supamon bg RSS %.0f MB (peak %.0f MB)\n' \
			"$n" "$delay" "${res_check[$key]}" "$(ms0 "${res_fresh[$key]}")" "${res_kept[$key]}" \
			"$([ "$fresh" = 1 ] && awk -v a="${res_check[$key]}" -v b="${res_fresh[$key]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }' || echo n/a)" \
			"$(awk -v a="${res_cpu[$key]}" 'BEGIN { printf "%.1f", a }')" \
			"$(awk -v k="${res_hwm[$key]}" 'BEGIN { print k / 1024 }')" \
			"$(awk -v k="$bg_rss" 'BEGIN { print k / 1024 }')" "$(awk -v k="$bg_hwm" 'BEGIN { print k / 1024 }')"
	done
done
echo "the proxy, per pass: CPU per check, and how late its chunks left (median / p99 / max)"
for n in $sizes; do
	for delay in $delays; do
		key="$n $delay"
		read -r late_med late_p99 late_max <<<"${res_late[$key]}"
		echo "  N=$n delay=${delay}ms  CPU ${res_proxy[$key]} ms/check  late $late_med / $late_p99 / $late_max ms"
	done
done

# The model: a least-squares line through (N, median) per delay (with two
# sizes, the line through both points).
fit() {
	awk '{ n++; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2 }
		END { d = n * sxx - sx * sx; if (n < 2 || d == 0) { print "nan nan"; exit }
		      b = (n * sxy - sx * sy) / d; printf "%.1f %.2f\n", (sy - b * sx) / n, b }'
}
nsizes=$(wc -w <<<"$sizes")
if [ "$nsizes" -ge 2 ]; then
	echo
	echo "model: check_ms(N) = a + b * N, fitted per delay to N in { $sizes }"
	target=40
	grep -qw 40 <<<"$delays" || target=$(tr ' ' '\n' <<<"$delays" | sort -g | tail -n 1)
	for delay in $delays; do
		read -r a b <<<"$(for n in $sizes; do echo "$n ${res_check[$n $delay]}"; done | fit)"
		fa=skipped fb=skipped
		[ "$fresh" = 1 ] && read -r fa fb <<<"$(for n in $sizes; do echo "$n ${res_fresh[$n $delay]}"; done | fit)"
		read -r ka kb <<<"$(for n in $sizes; do echo "$n ${res_kept[$n $delay]}"; done | fit)"
		printf '  delay %sms: a = %s ms, b = %s ms per project   (floor fresh: a = %s, b = %s; floor kept: a = %s, b = %s)\n' \
			"$delay" "$a" "$b" "$fa" "$fb" "$ka" "$kb"
		if [ "$delay" = "$target" ]; then
			printf '  N=1000 at %sms: check %.0f ms   (floor fresh %s, floor kept %.0f ms)\n' "$delay" \
				"$(awk -v a="$a" -v b="$b" 'BEGIN { print a + b * 1000 }')" \
				"$([ "$fresh" = 1 ] && ms0 "$(awk -v a="$fa" -v b="$fb" 'BEGIN { print a + b * 1000 }')" || echo skipped)" \
				"$(awk -v a="$ka" -v b="$kb" 'BEGIN { print a + b * 1000 }')" >"$dir/extrapolated"
		fi
	done
	cat "$dir/extrapolated"
fi
