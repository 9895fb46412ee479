#!/usr/bin/env bash
# The demo, on a fresh Debian 12 machine, as root:  bash demo/run.sh
#
# Installs what supamon needs, builds and installs it, starts a throwaway
# PostgreSQL server (as the postgres user, on a port and socket of its own)
# with pg_cron and supamon preloaded, and shows what is running.  The server
# is stopped and removed at the end; pass --keep to leave it running.
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

# A port nobody listens on.
port=54329
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done

as_pg "$bindir/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'pg_cron,supamon'
cron.database_name = 'postgres'
cron.host = '$dir'
supamon.database = 'postgres'
timezone = 'UTC'
CONF
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
stop() {
	if $keep; then
		echo "server left running: psql -h $dir -p $port -U postgres (stop: runuser -u postgres -- $bindir/pg_ctl -D $dir/data stop)"
	else
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
		rm -rf "$dir"
	fi
}
trap stop EXIT

psql() { as_pg "$bindir/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres "$@"; }

echo "== a throwaway server on port $port, socket in $dir"
psql -c 'CREATE EXTENSION pg_cron' -c 'CREATE EXTENSION supamon'
psql -c '\dx'
psql -c "SELECT cron.schedule('demo-heartbeat', '* * * * *', \$\$SELECT 'alive'\$\$)" >/dev/null

echo "== the supamon worker"
for _ in $(seq 1 30); do
	[ "$(psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'supamon worker' AND query = 'supamon: idle'")" = 1 ] && break
	psql -c 'SELECT pg_reload_conf()' >/dev/null
	sleep 1
done
psql -c "SELECT pid, backend_type, datname, query AS state FROM pg_stat_activity WHERE backend_type IN ('supamon worker', 'pg_cron launcher')"

echo "== waiting for pg_cron's first run of demo-heartbeat (at the next minute)"
for _ in $(seq 1 80); do
	[ "$(psql -Atc "SELECT count(*) FROM cron.job_run_details WHERE status = 'succeeded'")" -gt 0 ] && break
	sleep 1
done
psql -c "SELECT j.jobname, d.status, d.return_message, d.start_time FROM cron.job_run_details d JOIN cron.job j USING (jobid)"
