#!/usr/bin/env bash
# What a steady check costs the central backend, per project.
#
#   bash bench/check_cpu.sh [ROUNDS]     (as root; ROUNDS defaults to 5;
#                                         PROJECTS=200 JOBS=20 SMALL=50)
#
# CENTRAL_SQL, if set, runs on the central database right after CREATE
# EXTENSION (to try a change of the schema, say).
#
# PROJECTS databases of JOBS jobs each on one project cluster.  One psql
# session on the central cluster runs every check, so that the backend's
# CPU (utime + stime from /proc) and its memory are those of the checks
# alone.  Each round: one new finished run per job, a check ("new"); then a
# check with nothing new ("idle").  Per check: wall time, the backend's CPU
# per project, how far its resident memory rose during the check (VmHWM,
# reset before it, minus VmRSS before it: it counts the shared buffers the
# check touched for the first time), the peak of its private memory
# (RssAnon, sampled every 2 ms; what a check frees stays resident, so a
# rise says little), and the new row versions written to
# supamon.job_inventory and supamon.project (updates, of them HOT) per job.  Last, the same checks with only SMALL projects enabled:
# the difference of the two peaks is the check's memory per project.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
projects=${PROJECTS:-200}
jobs=${JOBS:-20}
small=${SMALL:-50}

bash "$top/test/setup.sh" >/dev/null
# the collector keeps a connection per project open, psql needs its own
bench_before_start() {
	[ "$1" = projects ] && echo "max_connections = $((projects + 50))" >>"$2/postgresql.conf"
	true
}
source "$top/bench/common.sh"

project_fleet "$projects" "$jobs"

# one new finished run per job, in every enabled project's database
for i in $(seq "$projects"); do
	echo "\\c p$i"
	echo "INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
		SELECT jobid, 'succeeded', '1 row', now(), now() FROM cron.job WHERE \$\$p$i\$\$ <> ALL (:'off'::text[]);"
done >"$dir/new_runs.sql"

# The backend's private memory (RssAnon: not the shared buffers it touches,
# which VmHWM counts) every 2 ms while a check runs; its peak at SIGTERM.
cat >"$dir/anon_peak.py" <<'PY'
import signal, sys, time
pid, out = sys.argv[1], sys.argv[2]
peak = 0
def stop(*_):
    open(out, "w").write("%d\n" % peak)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open(out + ".ready", "w").close()
while True:
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                peak = max(peak, int(line.split()[1]))
    time.sleep(0.002)
PY

# one line per sample: tag phase ns cpu_ns 0 VmRSS VmHWM inventory(ins upd hot) project(upd hot) RssAnon(now or peak)
cat >"$dir/sample.sh" <<'SH'
if [ "$2" = after ]; then
	kill -TERM "$(cat "$SAMPLES.sampler")"
	while [ ! -s "$SAMPLES.peak" ]; do sleep 0.01; done
	anon=$(cat "$SAMPLES.peak")
	rm -f "$SAMPLES.peak" "$SAMPLES.peak.ready"
else
	anon=$(awk '/^RssAnon/ {print $2}' "/proc/$PID/status")
fi
# CPU time in ns (schedstat: the clock ticks of /proc/PID/stat are 10 ms,
# 0.05 ms a project at 200 projects)
read -r cpu _ <"/proc/$PID/schedstat"
if [ -n "$COLLECTOR" ]; then
	read -r ccpu _ <"/proc/$COLLECTOR/schedstat"
	cpu=$((cpu + ccpu))
fi
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$PID/status")
echo "$1 $2 $(date +%s%N) $cpu 0 $rss $hwm $INS $UPD $HOT $PUPD $PHOT $anon" >>"$SAMPLES"
# the peak is measured from here
if [ "$2" = before ]; then
	echo 5 >"/proc/$PID/clear_refs"
	python3 "$(dirname "$0")/anon_peak.py" "$PID" "$SAMPLES.peak" &
	echo $! >"$SAMPLES.sampler"
	while [ ! -e "$SAMPLES.peak.ready" ]; do sleep 0.01; done
fi
true
SH
chown postgres: "$dir"/*.sh "$dir"/*.py "$dir"/*.sql

# One psql session per phase (a fresh backend, whose memory no larger
# phase grew before): "small" with the first SMALL projects enabled, then
# every project.
stats="SELECT pg_stat_force_next_flush() \\g /dev/null
SELECT i.n_tup_ins AS ins, i.n_tup_upd AS upd, i.n_tup_hot_upd AS hot, p.n_tup_upd AS pupd, p.n_tup_hot_upd AS phot
	FROM pg_stat_user_tables i, pg_stat_user_tables p
	WHERE i.relid = 'supamon.job_inventory'::regclass AND p.relid = 'supamon.project'::regclass \\gset
\\setenv INS :ins
\\setenv UPD :upd
\\setenv HOT :hot
\\setenv PUPD :pupd
\\setenv PHOT :phot"
newruns="\\! PGOPTIONS= psql -X -q -h $dir -p $project_port -U postgres -d postgres -v off=\"\$OFF\" -f $dir/new_runs.sql >/dev/null"
check() {
	echo "$stats"
	echo "\\! bash $dir/sample.sh $1 before"
	echo "SELECT supamon_check_health() \\g /dev/null"
	echo "$stats"
	echo "\\! bash $dir/sample.sh $1 after"
}
phase() {
	local enabled=$1 tag=$2
	{
		echo "SELECT pg_backend_pid() AS pid \\gset"
		echo "\\setenv PID :pid"
		echo "\\setenv SAMPLES $dir/samples"
		echo "\\setenv COLLECTOR $(cpsql -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'supamon collector'")"
		echo "UPDATE supamon.project SET enabled = substr(name, 2)::int <= $enabled;"
		if [ "$enabled" -lt "$projects" ]; then
			echo "\\setenv OFF '{$(seq -s, -f 'p%g' $((enabled + 1)) "$projects")}'"
		else
			echo "\\setenv OFF '{}'"
		fi
		# a first steady check of this session, not counted
		echo "$newruns"
		check warmup
		for ((r = 0; r < rounds; r++)); do
			echo "$newruns"
			check "$tag"
			[ "$tag" = small ] || check idle
		done
	} >"$dir/measure.sql"
	chown postgres: "$dir/measure.sql"
	cpsql -f "$dir/measure.sql" >/dev/null
}
echo "== $projects projects x $jobs jobs, $rounds rounds"
# first contact of every project, not counted
cpsql -c "SELECT supamon_check_health()" >/dev/null
phase "$small" small
phase "$projects" new

awk -v n="$projects" -v small="$small" -v jobs="$jobs" '
function median(a, k,   i, j, t) {
	for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
$2 == "before" { split($0, b); next }
$2 == "after" && $1 != "warmup" {
	t = $1; k = ++cnt[t]; np = t == "small" ? small : n
	wall[t, k] = ($3 - b[3]) / 1e6
	cpu[t, k] = ($4 - b[4]) / 1e6 / np
	peak[t, k] = $7 - b[6]
	iupd[t, k] = ($9 - b[9]) / (np * jobs)
	ihot[t, k] = ($10 - b[10]) / (np * jobs)
	iins[t, k] = ($8 - b[8]) / (np * jobs)
	pupd[t, k] = ($11 - b[11]) / np
	anon[t, k] = $13
}
END {
	printf "%-6s %6s %10s %14s %10s %10s %12s %12s %12s %12s\n", "check", "checks", "wall ms", "cpu ms/proj", "peak kB", "private kB", "inv ins/job", "inv upd/job", "inv hot/job", "proj upd/p"
	for (ti = 1; ti <= 3; ti++) {
		t = ti == 1 ? "new" : ti == 2 ? "idle" : "small"
		k = cnt[t]; if (k == 0) continue
		for (m = 1; m <= 8; m++) {
			for (i = 1; i <= k; i++) {
				v[i] = m == 1 ? wall[t, i] : m == 2 ? cpu[t, i] : m == 3 ? peak[t, i] : m == 4 ? iins[t, i] : m == 5 ? iupd[t, i] : m == 6 ? ihot[t, i] : m == 7 ? pupd[t, i] : anon[t, i]
			}
			med[m] = median(v, k)
		}
		printf "%-6s %6d %10.1f %14.3f %10d %10d %12.2f %12.2f %12.2f %12.2f\n", t, k, med[1], med[2], med[3], med[8], med[4], med[5], med[6], med[7]
		peakof[t] = med[3]
		anonof[t] = med[8]
	}
	if (cnt["small"] > 0 && cnt["new"] > 0)
		printf "check memory per project (peak of %d minus peak of %d projects): %.1f kB, private %.1f kB\n", n, small, (peakof["new"] - peakof["small"]) / (n - small), (anonof["new"] - anonof["small"]) / (n - small)
}' "$dir/samples"
