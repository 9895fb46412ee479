#!/usr/bin/env bash
# The demo, on a fresh Debian 12 machine, as root:  bash demo/run.sh
#
# Installs what supamon needs, builds and installs it, and starts two
# throwaway PostgreSQL servers (as the postgres user, on ports and sockets of
# their own): "thordata", the central database with pg_cron and supamon, and
# "billing", a project whose pg_cron runs a healthy job and a broken one.
# A third project, "staging", does not answer.  A local receiver
# (test/receiver.py on 127.0.0.1) stands in for Discord and Telegram and
# prints what arrives.  After pg_cron's first real runs,
# supamon_check_health() reports what it sees and queues its alerts, and the
# worker delivers them.  Everything is stopped and removed at the end; --keep
# leaves it running.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
keep=false
[ "${1:-}" = --keep ] && keep=true

bash "$top/test/setup.sh"

bindir=$(pg_config --bindir)
dir=$(mktemp -d /tmp/supamon-demo.XXXXXX)
chown postgres: "$dir"
chmod 755 "$dir"
as_pg() { runuser -u postgres -- "$@"; }
free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}

start_server() {
	local name=$1 port=$2
	as_pg "$bindir/initdb" -D "$dir/$name" -A trust -U postgres >/dev/null
	cat >>"$dir/$name/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'pg_cron,supamon'
cron.database_name = 'postgres'
cron.host = '$dir'
supamon.database = 'postgres'
timezone = 'UTC'
CONF
	as_pg "$bindir/pg_ctl" -D "$dir/$name" -l "$dir/$name.log" -w start >/dev/null
}
# the stand-in for Discord and Telegram, printing what it receives
# runuser itself in the background: as_pg is a function, whose subshell
# would take the kill and leave the receiver running
runuser -u postgres -- python3 "$top/test/receiver.py" --portfile "$dir/receiver.port" --record "$dir/receiver.jsonl" \
	--print --max-seconds 3600 >"$dir/receiver.out" 2>&1 &
receiver=$!
for _ in $(seq 100); do [ -s "$dir/receiver.port" ] && break; sleep 0.1; done
hook="http://127.0.0.1:$(cat "$dir/receiver.port")"

central_port=$(free_port 54329)
start_server thordata "$central_port"
project_port=$(free_port $((central_port + 1)))
start_server billing "$project_port"
stop() {
	$keep || kill "$receiver" 2>/dev/null || true
	if $keep; then
		echo "left running: psql -h $dir -p $central_port -U postgres (stop: runuser -u postgres -- $bindir/pg_ctl -D $dir/thordata stop; same for $dir/billing)"
	else
		for name in thordata billing; do
			as_pg "$bindir/pg_ctl" -D "$dir/$name" -m fast -w stop >/dev/null 2>&1 || true
		done
		rm -rf "$dir"
	fi
}
trap stop EXIT

psql() { as_pg "$bindir/psql" -X -q -h "$dir" -p "$central_port" -U postgres -d postgres "$@"; }
billing() { as_pg "$bindir/psql" -X -q -h "$dir" -p "$project_port" -U postgres -d postgres "$@"; }

echo "== thordata (port $central_port) and billing (port $project_port), sockets in $dir"
billing -c 'CREATE EXTENSION pg_cron' \
	-c "SELECT cron.schedule('invoice-run', '* * * * *', \$\$SELECT 'invoices sent'\$\$)" \
	-c "SELECT cron.schedule('ledger-sync', '* * * * *', \$\$SELECT 1/0\$\$)" \
	-c "SELECT cron.schedule('month-end-close', '0 23 28-31 * *', \$\$SELECT 1\$\$)" >/dev/null
psql -c 'CREATE EXTENSION pg_cron' -c 'CREATE EXTENSION supamon' \
	-c "SELECT cron.schedule('heartbeat', '* * * * *', \$\$SELECT 'alive'\$\$)" >/dev/null
psql -c '\dx supamon'

echo "== the projects supamon watches"
psql -c "SELECT supamon_add_project('thordata')" \
	-c "SELECT supamon_add_project('billing', 'host=$dir port=$project_port dbname=postgres user=postgres')" \
	-c "SELECT supamon_add_project('staging', 'host=127.0.0.1 port=1 dbname=postgres password=not-shown')" >/dev/null

echo "== the channels: Discord gets every alert, Telegram the critical ones (both local stand-ins)"
psql -c "ALTER SYSTEM SET supamon.telegram_api_url = '$hook'" -c 'SELECT pg_reload_conf()' >/dev/null
psql -c "SELECT supamon_add_channel('team-discord', 'discord', '$hook/api/webhooks/1234567890/demo-webhook-token')" \
	-c "SELECT supamon_add_channel('oncall-telegram', 'telegram', bot_token => '123456789:demo-bot-token-not-a-real-one',
		chat_id => '-1001234567890', criticality => 'critical')" >/dev/null
psql -c "SELECT supamon_send_test_alert('team-discord')"
psql -c "SELECT name, channel, criticality, chat_id FROM supamon.alert_config ORDER BY id"
psql -c "SELECT project, reachable, jobs, new_jobs, runs_read, error FROM supamon_audit()"
psql -c "SELECT project_name AS project, job_name AS job, schedule, supamon_parse_schedule(schedule) ->> 'description' AS means FROM supamon.job_inventory ORDER BY 1, 2"

echo "== the supamon worker"
for _ in $(seq 1 30); do
	[ "$(psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'supamon worker' AND query = 'supamon: idle'")" = 1 ] && break
	psql -c 'SELECT pg_reload_conf()' >/dev/null
	sleep 1
done
psql -c "SELECT pid, backend_type, datname, query AS state FROM pg_stat_activity WHERE backend_type IN ('supamon worker', 'pg_cron launcher')"

echo "== waiting for pg_cron's first runs (at the next minute)"
for _ in $(seq 1 90); do
	[ "$(billing -Atc "SELECT count(DISTINCT jobid) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')")" -ge 2 ] && break
	sleep 1
done
sleep 2
# criticality is the user's to set; discovery keeps it
psql -c "UPDATE supamon.job_inventory SET criticality = 'critical' WHERE job_name = 'ledger-sync'" >/dev/null

echo "== supamon_check_health()"
psql -c "SELECT jsonb_pretty(supamon_check_health())"
psql -c "SELECT project, status, reachable, jobs, healthy, failed, missed, unknown, last_error FROM supamon.project_status ORDER BY 1"
psql -c "SELECT project, name, schedule, status, last_run_at, last_error, next_expected_at FROM supamon.job_status ORDER BY 1, 3"
echo "== the alerts, delivered by the worker"
for _ in $(seq 1 50); do
	[ "$(psql -Atc "SELECT count(*) FROM supamon.alert_outbox WHERE state IN ('pending', 'sending')")" = 0 ] && break
	sleep 0.2
done
psql -c "SELECT id, channel_name, target, project, job, event, state, attempts, last_http_status, sent_at FROM supamon.alerts ORDER BY id"
echo "== what Discord and Telegram received (the local receiver's printout)"
cat "$dir/receiver.out"
echo "== a second check: nothing changed, nothing queued"
psql -Atc "SELECT supamon_check_health() ->> 'alerts_queued'"
