# Shared by the benchmarks: a throwaway "central" cluster (supamon preloaded)
# and a "projects" cluster, as the postgres user, removed on exit; psql
# helpers.  Sourced after test/setup.sh has built and installed supamon.
#
# A script may start more clusters with start_cluster NAME PORT PRELOAD (data
# in $dir/NAME): stop_all stops them too.
#
# A script may set BENCH_PORT (the first port tried, 56100 by default) and
# define bench_before_start NAME DATADIR, called after initdb and before the
# cluster starts, to add settings, certificates or pg_hba.conf of its own.
bindir=$(pg_config --bindir)
dir=$(mktemp -d /tmp/supamon-bench.XXXXXX)
chown postgres: "$dir"
as_pg() { runuser -u postgres -- "$@"; }
free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}
central_port=$(free_port "${BENCH_PORT:-56100}")
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
	if declare -F bench_before_start >/dev/null; then bench_before_start "$name" "$dir/$name"; fi
	as_pg "$bindir/pg_ctl" -D "$dir/$name" -l "$dir/$name.log" -w start >/dev/null
}
# Stops every cluster under $dir: central, projects, and any other a script
# started there with start_cluster (bench/fleet.sh's CLUSTERS > 1).
stop_all() {
	local data
	for data in "$dir"/*/; do
		[ -f "$data/PG_VERSION" ] && as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
	done
	rm -rf "$dir"
}
trap stop_all EXIT
# a signal ends the script through its EXIT trap (bash runs none when killed)
trap 'exit 130' INT
trap 'exit 143' TERM

start_cluster central "$central_port" supamon
start_cluster projects "$project_port" ''

cpsql() { as_pg "$bindir/psql" -X -q -At -h "$dir" -p "$central_port" -U postgres -d postgres "$@"; }
ppsql() { local db=$1; shift; as_pg "$bindir/psql" -X -q -At -h "$dir" -p "$project_port" -U postgres -d "$db" "$@"; }
# milliseconds one statement takes, measured by psql
timed() { local client=$1; shift; "$client" -c '\timing on' "$@" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

# pg_cron 1.4's two tables, hand-made: a project whose history a benchmark
# writes itself (nothing runs there).
cron_schema() {
	cat <<'SQL'
CREATE SCHEMA cron;
CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL, command text NOT NULL,
	nodename text NOT NULL DEFAULT 'localhost', nodeport int NOT NULL DEFAULT 5432,
	database text NOT NULL DEFAULT current_database(), username text NOT NULL DEFAULT current_user,
	active boolean NOT NULL DEFAULT true, jobname name);
CREATE TABLE cron.job_run_details (jobid bigint, runid bigserial PRIMARY KEY, job_pid int,
	database text, username text, command text, status text, return_message text,
	start_time timestamptz, end_time timestamptz);
SQL
}

# N project databases p1..pN of JOBS jobs each ('*/5 * * * *', one finished
# run each) on the projects cluster, registered on the central one after
# CREATE EXTENSION supamon and CENTRAL_SQL (if set: a schema change to try).
project_fleet() {
	local n=$1 jobs=$2 i
	ppsql postgres -c "CREATE DATABASE tmpl" >/dev/null
	{
		cron_schema
		cat <<SQL
INSERT INTO cron.job (schedule, command, jobname)
SELECT '*/5 * * * *', 'SELECT ' || j, 'job-' || j FROM generate_series(1, $jobs) j;
INSERT INTO cron.job_run_details (jobid, status, return_message, start_time, end_time)
SELECT jobid, 'succeeded', '1 row', now() - interval '1 minute', now() FROM cron.job;
SQL
	} | ppsql tmpl >/dev/null
	for i in $(seq "$n"); do echo "CREATE DATABASE p$i TEMPLATE tmpl;"; done | ppsql postgres >/dev/null
	cpsql -c 'CREATE EXTENSION supamon' >/dev/null
	[ -z "${CENTRAL_SQL:-}" ] || cpsql -c "$CENTRAL_SQL" >/dev/null
	cpsql -c "SELECT count(supamon_add_project('p' || i,
		'host=$dir port=$project_port dbname=p' || i || ' user=postgres')) FROM generate_series(1, $n) i" >/dev/null
}
