#!/usr/bin/env bash
# The demo, on a fresh Debian 12 machine, as root:  bash demo/run.sh
#
#   bash demo/run.sh            the story, told: about four minutes, the build included
#   bash demo/run.sh --short    the same story, asserted, no epilogue: 2 to 3 minutes (test/all.sh)
#   bash demo/run.sh --keep     leave the servers running at the end
#   bash demo/run.sh --no-setup use the supamon already installed (no apt, no build)
#
# Installs what supamon needs (test/setup.sh), builds and installs it, and
# starts three throwaway PostgreSQL servers, as the postgres user, on ports and
# a socket directory of their own, with the binaries of `pg_config --bindir`:
#   thordata   the central database: pg_cron and supamon preloaded
#   billing    a project whose pg_cron runs a healthy job, a failing one and a
#              deactivated one
#   analytics  a project whose pg_cron may run one job at a time
#              (cron.max_running_jobs = 1); when a migration takes a lock and
#              hangs, rebuild-search-index waits on it (stuck) and holds the
#              only slot, so refresh-dashboards, healthy until then, stops
#              being started at all (missed)
# and a fourth project, staging, that does not answer.  A local receiver
# (test/receiver.py on 127.0.0.1) stands in for Discord and Telegram and
# prints what arrives.  Projects, channels, criticality and the check's
# schedule are set through SQL; pg_cron runs the check every minute
# (supamon_schedule), and the worker delivers the alerts.  The full mode then
# ends the migration and shows both jobs recover.  Everything is stopped and
# removed at the end, on an error, and on Ctrl-C or SIGTERM.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

short=false keep=false setup=true
for arg in "$@"; do
	case $arg in
	--short) short=true ;;
	--keep) keep=true ;;
	--no-setup) setup=false ;;
	*) echo "usage: bash demo/run.sh [--short] [--keep] [--no-setup]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "run as root: the servers are started as the postgres user" >&2; exit 2; }

demo_start=$SECONDS
$setup && bash "$top/test/setup.sh"

bindir=$(pg_config --bindir)
dir=$(mktemp -d /tmp/supamon-demo.XXXXXX)
chown postgres: "$dir"
chmod 755 "$dir"
servers=() receiver= migration=
as_pg() { runuser -u postgres -- "$@"; }

stop_all() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if $keep && [ "$rc" = 0 ]; then
		echo "left running (sockets in $dir): psql -h $dir -p $thordata -U postgres"
		echo "  stop: for s in ${servers[*]}; do runuser -u postgres -- $bindir/pg_ctl -D $dir/\$s stop; done; kill $receiver; rm -rf $dir"
		exit 0
	fi
	# the migration's psql ends with its server; killing it first spares a
	# "terminating connection" message
	[ -n "$migration" ] && kill "$migration" 2>/dev/null
	for name in "${servers[@]}"; do
		as_pg "$bindir/pg_ctl" -D "$dir/$name" -m fast -w stop >/dev/null 2>&1
	done
	[ -n "$receiver" ] && kill "$receiver" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$dir"
	exit "$rc"
}
trap stop_all EXIT
# a signal ends the script through exit, so that stop_all runs once, with
# a status that says what happened
trap 'echo; echo "== interrupted: stopping everything"; exit 130' INT
trap 'echo "== terminated: stopping everything"; exit 143' TERM

free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || [ -e "$dir/.s.PGSQL.$p" ]; do p=$((p + 1)); done
	echo "$p"
}
start_server() {
	local name=$1 port=$2 preload=$3 extra=${4:-}
	as_pg "$bindir/initdb" -D "$dir/$name" -A trust -U postgres >/dev/null
	cat >>"$dir/$name/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = '$preload'
cron.database_name = 'postgres'
cron.host = '$dir'
timezone = 'UTC'
$extra
CONF
	servers+=("$name")
	as_pg "$bindir/pg_ctl" -D "$dir/$name" -l "$dir/$name.log" -w start >/dev/null
}
# sql PORT ARGS...: psql on one of the demo's servers
sql() {
	local port=$1; shift
	as_pg "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres "$@"
}
say() { printf '\n== %s\n' "$*"; }

# The stand-in for Discord and Telegram.  runuser itself goes to the
# background: a function's subshell would take the kill and leave it running.
# a copy: the postgres user may not be able to read the tree (under /root)
cp "$top/test/receiver.py" "$dir/receiver.py"
runuser -u postgres -- python3 "$dir/receiver.py" --portfile "$dir/receiver.port" \
	--record "$dir/receiver.jsonl" --print --max-seconds 3600 >"$dir/receiver.out" 2>&1 &
receiver=$!
for _ in $(seq 100); do [ -s "$dir/receiver.port" ] && break; sleep 0.1; done
[ -s "$dir/receiver.port" ] || { echo "the receiver did not start:"; cat "$dir/receiver.out"; exit 1; }
hook="http://127.0.0.1:$(cat "$dir/receiver.port")"

# The projects first: their pg_cron jobs must exist before the next minute
# starts, for the story to begin then.
billing=$(free_port 54330)
start_server billing "$billing" pg_cron
analytics=$(free_port $((billing + 1)))
start_server analytics "$analytics" pg_cron 'cron.max_running_jobs = 1'
thordata=$(free_port $((analytics + 1)))
start_server thordata "$thordata" 'pg_cron,supamon' "supamon.database = 'postgres'"

say "servers (sockets in $dir): thordata :$thordata (pg_cron, supamon), billing :$billing and analytics :$analytics (pg_cron)"
sql "$billing" -c 'CREATE EXTENSION pg_cron' \
	-c "SELECT cron.schedule('invoice-run', '* * * * *', \$\$SELECT 'invoices sent'\$\$)" \
	-c "SELECT cron.schedule('ledger-sync', '* * * * *', \$\$SELECT 1/0\$\$)" \
	-c "SELECT cron.alter_job(cron.schedule('month-end-close', '0 23 28-31 * *', \$\$SELECT 1\$\$), active := false)" >/dev/null
sql "$analytics" -c 'CREATE EXTENSION pg_cron' \
	-c 'CREATE TABLE search_index (id bigint PRIMARY KEY, doc text)' \
	-c 'CREATE TABLE page_view (at timestamptz DEFAULT now(), path text)' \
	-c 'CREATE MATERIALIZED VIEW dashboard AS SELECT path, count(*) AS views FROM page_view GROUP BY path' \
	-c "SELECT cron.schedule('refresh-dashboards', '* * * * *', 'REFRESH MATERIALIZED VIEW dashboard')" \
	-c "SELECT cron.schedule('rebuild-search-index', '* * * * *', 'REINDEX TABLE search_index')" >/dev/null
for port in "$billing" "$analytics"; do
	sql "$port" -c "SELECT current_setting('port') AS port, jobid, jobname, schedule, command, active FROM cron.job ORDER BY jobid"
done

say "supamon in thordata"
sql "$thordata" -c 'CREATE EXTENSION pg_cron' -c 'CREATE EXTENSION supamon' -c '\dx supamon'

say "the projects supamon watches (thordata watches its own pg_cron too)"
sql "$thordata" -c "SELECT supamon_add_project('thordata')" \
	-c "SELECT supamon_add_project('billing', 'host=$dir port=$billing dbname=postgres user=postgres')" \
	-c "SELECT supamon_add_project('analytics', 'host=$dir port=$analytics dbname=postgres user=postgres')" \
	-c "SELECT supamon_add_project('staging', 'host=127.0.0.1 port=1 dbname=postgres password=not-shown')" \
	-c "SELECT supamon_set_default_criticality('billing', 'critical', 'ledger%')" >/dev/null
sql "$thordata" -c "SELECT project, reachable, jobs, new_jobs, error FROM supamon_audit() ORDER BY 1"
# what each job may do, set once discovery knows it
sql "$thordata" -c "SELECT supamon_set_job('analytics', 'refresh-dashboards', criticality => 'critical', grace => '10 seconds',
		description => 'the dashboards people open every morning')" \
	-c "SELECT supamon_set_job('analytics', 'rebuild-search-index', max_runtime => '30 seconds')" >/dev/null
sql "$thordata" -c "SELECT project_name AS project, job_name AS job, schedule, supamon_parse_schedule(schedule) ->> 'description' AS means,
		criticality, grace, max_runtime FROM supamon.job_inventory ORDER BY 1, 2"

say "the channels: Discord gets every alert, Telegram the critical ones (both the local receiver)"
sql "$thordata" -c "ALTER SYSTEM SET supamon.telegram_api_url = '$hook'" -c 'SELECT pg_reload_conf()' >/dev/null
sql "$thordata" -c "SELECT supamon_add_channel('team-discord', 'discord', '$hook/api/webhooks/1234567890/demo-webhook-token')" \
	-c "SELECT supamon_add_channel('oncall-telegram', 'telegram', bot_token => '123456789:demo-bot-token-not-a-real-one',
		chat_id => '-1001234567890', criticality => 'critical')" >/dev/null
sql "$thordata" -c "SELECT name, channel, criticality, chat_id FROM supamon.alert_config ORDER BY id" \
	-c "SELECT supamon_send_test_alert('team-discord')"

say "the check, scheduled with pg_cron in thordata"
sql "$thordata" -c "SELECT supamon_schedule('* * * * *') AS jobid" \
	-c "SELECT jobid, jobname, schedule, command FROM cron.job WHERE jobname = 'supamon-check'"

# --- waiting, with the receiver's messages shown as they arrive ---
shown=0
show_received() {
	local n
	n=$(wc -l <"$dir/receiver.out")
	if [ "$n" -gt "$shown" ]; then
		tail -n "+$((shown + 1))" "$dir/receiver.out" | head -n "$((n - shown))" | sed 's/^/   | /'
		shown=$n
	fi
}
checks() {
	sql "$thordata" -Atc "SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		WHERE j.jobname = 'supamon-check' AND d.status = 'succeeded'"
}
# what the receiver got from supamon's checks (not the test alert), by kind
received() {
	python3 - "$dir/receiver.jsonl" "${1:-}" <<'PY'
import json, sys
kind = sys.argv[2]
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("status") in (200, 204) and (not kind or e["kind"] == kind) \
            and "test alert" not in json.dumps(e.get("json")).lower():
        n += 1
print(n)
PY
}
# wait_for WHAT DEADLINE CONDITION: polls CONDITION (a function) every
# second, never a guess at pg_cron's timing; a progress line every 10 s
wait_for() {
	local what=$1 deadline=$2 cond=$3 started=$SECONDS last=$SECONDS now
	while :; do
		show_received
		if $cond; then show_received; return 0; fi
		now=$(date +%s)
		[ "$now" -lt "$deadline" ] || return 1
		if [ $((SECONDS - last)) -ge 10 ]; then
			printf '   ... %s (%d s); next minute in %d s; checks so far: %s, alerts received: %s\n' \
				"$what" $((SECONDS - started)) $((60 - now % 60)) "$(checks)" "$(received)"
			last=$SECONDS
		fi
		sleep 1
	done
}
status_of() {
	sql "$thordata" -Atc "SELECT status FROM supamon.job_status WHERE project = '$1' AND name = '$2' AND type = 'pg_cron'"
}

say "waiting for pg_cron's first runs in the projects, at the start of the next minute"
first_runs() {
	[ "$(sql "$billing" -Atc "SELECT count(DISTINCT jobid) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')")" -ge 2 ] &&
		[ "$(sql "$analytics" -Atc "SELECT count(DISTINCT jobid) FROM cron.job_run_details WHERE status = 'succeeded'")" -ge 2 ]
}
wait_for "waiting for the first runs" $(($(date +%s) + 90)) first_runs ||
	{ echo "FAIL: pg_cron ran no job in billing and analytics within 90 s"; exit 1; }
minute0=$(sql "$analytics" -Atc "SELECT extract(epoch FROM date_trunc('minute', min(start_time)))::bigint FROM cron.job_run_details")
sql "$analytics" -c "SELECT j.jobname, d.runid, d.status, d.start_time::time(0) AS started, d.return_message
	FROM cron.job_run_details d JOIN cron.job j USING (jobid) ORDER BY d.runid"

say "analytics: a migration takes a lock on search_index and hangs (as one left open in psql does)"
runuser -u postgres -- "$bindir/psql" -X -q -h "$dir" -p "$analytics" -U postgres -d postgres \
	-c "SET application_name = 'migration'" \
	-c "BEGIN; ALTER TABLE search_index ADD COLUMN lang text; SELECT pg_sleep(3600); COMMIT" \
	>/dev/null 2>&1 &
migration=$!
locked() {
	[ "$(sql "$analytics" -Atc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migration' AND query LIKE '%pg_sleep%'")" = 1 ]
}
wait_for "the migration" $(($(date +%s) + 10)) locked || { echo "FAIL: the migration did not start"; exit 1; }
echo "   from the next minute rebuild-search-index waits on that lock, and holds analytics' only pg_cron slot"

# Where things stand: what a person looks at
show_state() {
	sql "$thordata" -c "SELECT project, status, reachable, jobs, healthy, failed, missed, stuck, paused, unknown,
			left(last_error, 50) AS last_error FROM supamon.project_status ORDER BY 1"
	sql "$thordata" -c "SELECT project, name, criticality, status, to_char(since, 'HH24:MI:SS') AS since,
			to_char(last_run_at, 'HH24:MI:SS') AS last_run, last_run_status, recent,
			left(regexp_replace(reason, '\s+', ' ', 'g'), 60) AS reason
		FROM supamon.job_status ORDER BY 1, 2"
}
show_alerts() {
	sql "$thordata" -c "SELECT id, to_char(created_at, 'HH24:MI:SS') AS queued, channel_name, project, job, event,
			criticality, state, last_http_status AS http, to_char(sent_at, 'HH24:MI:SS') AS sent
		FROM supamon.alerts ORDER BY id"
}
# the outbox drained: every alert queued so far sent (or dead, for the asserts to see)
drained() {
	[ "$(sql "$thordata" -Atc "SELECT count(*) FROM supamon.alert_outbox WHERE state IN ('pending', 'sending')")" = 0 ]
}

say "waiting for supamon's checks: refresh-dashboards is seen healthy, then missed; rebuild-search-index stuck"
the_story() {
	[ "$(status_of analytics refresh-dashboards)" = missed ] &&
		[ "$(status_of analytics rebuild-search-index)" = stuck ] &&
		[ "$(status_of billing ledger-sync)" = failed ] &&
		[ "$(status_of billing invoice-run)" = success ] &&
		[ "$(status_of billing month-end-close)" = paused ] &&
		drained && [ "$(received telegram)" -ge 2 ]
}
# refresh-dashboards' minute-0 run is seen at the check of minute 1; which of
# analytics' two jobs pg_cron starts first at minute 1 decides whether the
# first run it never starts is minute 1's or minute 2's, so the miss is seen at
# minute 2's check or minute 3's, then delivered within seconds
story_ok=true
wait_for "waiting for the story" $((minute0 + 3 * 60 + 40)) the_story || story_ok=false

say "after $((SECONDS - demo_start)) s: the projects"
show_state
say "the alerts, as the worker delivered them"
show_alerts
say "what Discord and Telegram received (one line each; the full text above, as it arrived)"
python3 - "$top/test" "$dir/receiver.jsonl" <<'PY'
import json, sys, time
sys.path.insert(0, sys.argv[1])
from receiver import readable
for line in open(sys.argv[2]):
    e = json.loads(line)
    first = next(iter(readable(e)), "")
    print(f"{time.strftime('%H:%M:%S', time.localtime(e['t']))}  {e['kind']:<8} {e['status']}  {first[:90]}")
PY

if $short; then
	# the story's outcome, asserted: each failure says what was expected
	fails=()
	expect() {
		local got
		got=$(status_of "$1" "$2")
		[ "$got" = "$3" ] || fails+=("$1/$2 is '${got:-absent}', expected '$3'")
	}
	expect billing invoice-run success
	expect billing ledger-sync failed
	expect billing month-end-close paused
	expect analytics rebuild-search-index stuck
	expect analytics refresh-dashboards missed
	[ "$(sql "$thordata" -Atc "SELECT status FROM supamon.project_status WHERE project = 'staging'")" = unreachable ] ||
		fails+=("staging is not unreachable")
	[ "$(sql "$thordata" -Atc "SELECT count(*) FROM supamon.job_health_log
		WHERE project_name = 'analytics' AND job_name = 'refresh-dashboards' AND status = 'success'")" -ge 1 ] ||
		fails+=("refresh-dashboards was never seen healthy before it stopped")
	[ "$(checks)" -ge 2 ] || fails+=("supamon-check ran $(checks) time(s) in thordata's pg_cron, expected at least 2")
	[ "$(received discord)" -ge 1 ] || fails+=("no alert reached Discord")
	[ "$(received telegram)" -ge 1 ] || fails+=("no alert reached Telegram")
	[ "$(sql "$thordata" -Atc "SELECT count(*) FROM supamon.alerts
		WHERE project = 'analytics' AND job = 'refresh-dashboards' AND event = 'missed' AND channel_name = 'oncall-telegram' AND state = 'sent'")" = 1 ] ||
		fails+=("refresh-dashboards' miss was not sent to Telegram")
	if [ ${#fails[@]} -gt 0 ]; then
		printf 'FAIL: %s\n' "${fails[@]}"
		$story_ok || echo "(the story was not complete by minute 3 of pg_cron's clock)"
		exit 1
	fi
	say "short demo: every outcome as expected, in $((SECONDS - demo_start)) s"
	exit 0
fi

$story_ok || echo "!! the story was not complete by minute 3 of pg_cron's clock; the state is shown as it is"

say "epilogue: the migration is cancelled; rebuild-search-index finishes, refresh-dashboards is started again"
sql "$analytics" -Atc "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'migration'" >/dev/null
recovered() {
	[ "$(status_of analytics refresh-dashboards)" = success ] &&
		[ "$(status_of analytics rebuild-search-index)" = success ] && drained
}
wait_for "waiting for the next check" $(($(date +%s) + 100)) recovered ||
	echo "!! not both recovered yet; the state is shown as it is"
say "after $((SECONDS - demo_start)) s: the projects, and every alert"
show_state
show_alerts
say "the demo took $((SECONDS - demo_start)) s"
