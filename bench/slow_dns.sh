#!/usr/bin/env bash
# What a slow DNS resolver does to an audit, measured (as root, after
# `make install`): a central server runs in a network namespace whose
# resolv.conf points at a UDP "DNS server" on that namespace's loopback that
# never answers.  Everything stays on loopback.
#
#   bash bench/slow_dns.sh
#
# Prints each audit's rows and wall time: three projects (a Unix socket,
# 127.0.0.1, a host name the resolver never answers) with
# supamon.connect_timeout = 2s, then how long a cancel sent after 0.5 s and
# statement_timeout = 1s take to end an audit of the slow project.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root (ip netns)"; exit 1; }
bindir=$(dirname "$(command -v pg_config)")
ns=supamon_dns_$$
work=$(mktemp -d /tmp/supamon-dns.XXXXXX)
port=55432
chown postgres: "$work"

cleanup() {
	runuser -u postgres -- "$bindir/pg_ctl" -D "$work/data" stop -m immediate >/dev/null 2>&1 || true
	[ -n "${dns_pid:-}" ] && kill "$dns_pid" 2>/dev/null || true
	ip netns delete "$ns" 2>/dev/null || true
	rm -rf "/etc/netns/$ns" "$work"
}
trap cleanup EXIT

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
mkdir -p "/etc/netns/$ns"
echo 'nameserver 127.0.0.1' > "/etc/netns/$ns/resolv.conf"
cat > "$work/dns.py" <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 53))
while True:
    s.recvfrom(4096)        # read every query, answer none
EOF
ip netns exec "$ns" python3 "$work/dns.py" & dns_pid=$!

runuser -u postgres -- "$bindir/initdb" -D "$work/data" -A trust >/dev/null
ip netns exec "$ns" runuser -u postgres -- "$bindir/pg_ctl" -D "$work/data" -l "$work/log" \
	-o "-p $port -k $work -c listen_addresses=127.0.0.1" start >/dev/null
psql() { runuser -u postgres -- "$bindir/psql" -X -h "$work" -p $port -At "$@"; }
psql -d postgres -c 'CREATE DATABASE proj' -c 'CREATE EXTENSION supamon'
psql -d proj -q -c 'CREATE SCHEMA cron' \
	-c 'CREATE TABLE cron.job (jobid bigserial PRIMARY KEY, schedule text NOT NULL, command text NOT NULL,
		nodename text NOT NULL DEFAULT $$localhost$$, nodeport int NOT NULL DEFAULT 5432,
		database text NOT NULL DEFAULT current_database(), username text NOT NULL DEFAULT current_user,
		active boolean NOT NULL DEFAULT true, jobname name)' \
	-c 'CREATE TABLE cron.job_run_details (jobid bigint, runid bigserial PRIMARY KEY, job_pid int,
		database text, username text, command text, status text, return_message text,
		start_time timestamptz, end_time timestamptz)'
psql -d postgres -q \
	-c "SELECT supamon_add_project('a_socket', 'host=$work port=$port dbname=proj')" \
	-c "SELECT supamon_add_project('b_ip', 'host=127.0.0.1 port=$port dbname=proj')" \
	-c "SELECT supamon_add_project('c_slowdns', 'host=db.slowdns.test port=$port dbname=proj')"

echo "== audit of three projects, supamon.connect_timeout = 2s"
start=$(date +%s.%N)
psql -d postgres -c "SET supamon.connect_timeout = '2s'" \
	-c 'SELECT project, reachable, error, elapsed_ms FROM supamon_audit()' | grep -v '^SET'
echo "wall: $(echo "$(date +%s.%N) - $start" | bc) s"

psql -d postgres -q -c "UPDATE supamon.project SET enabled = (name = 'c_slowdns')"
echo "== pg_cancel_backend 0.5 s into an audit of the slow project (connect_timeout 60s)"
start=$(date +%s.%N)
psql -d postgres -c "SET supamon.connect_timeout = '60s'" -c 'SELECT * FROM supamon_audit()' 2>&1 | grep -v '^SET' & audit_pid=$!
sleep 0.5
psql -d postgres -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%supamon_audit()%' AND pid <> pg_backend_pid()" >/dev/null
wait $audit_pid || true
echo "ended after: $(echo "$(date +%s.%N) - $start" | bc) s"

echo "== statement_timeout = 1s (connect_timeout 60s)"
start=$(date +%s.%N)
psql -d postgres -c "SET statement_timeout = '1s'" -c "SET supamon.connect_timeout = '60s'" \
	-c 'SELECT * FROM supamon_audit()' 2>&1 | grep -v '^SET' || true
echo "ended after: $(echo "$(date +%s.%N) - $start" | bc) s"
