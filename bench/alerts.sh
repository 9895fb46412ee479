#!/usr/bin/env bash
# Benchmark of alert delivery, on a real server started here.
#
#   bash bench/alerts.sh [ROUNDS]      (as root; ROUNDS defaults to 5)
#
# ALERTS (default 1,000) alerts are queued at once for one generic webhook
# channel whose receiver (test/receiver.py, on 127.0.0.1) has no limits; the
# time from queueing to the last one sent is read from the outbox itself
# (max(sent_at) - created_at).  Side by side, alternating round by round:
# the worker's concurrency (supamon.max_sends = 20, 8 at once per webhook)
# and one request at a time (supamon.max_sends = 1).  Medians are printed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
alerts=${ALERTS:-1000}

bash "$top/test/setup.sh" >/dev/null

source "$top/bench/common.sh"
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# runuser itself in the background: as_pg is a function, whose subshell
# would take the kill and leave the receiver running
runuser -u postgres -- python3 "$top/test/receiver.py" --portfile "$dir/receiver.port" \
	--record "$dir/receiver.jsonl" --max-seconds 3600 >/dev/null 2>&1 &
receiver=$!
trap 'kill $receiver 2>/dev/null || true; stop_all' EXIT
for _ in $(seq 100); do [ -s "$dir/receiver.port" ] && break; sleep 0.1; done
port=$(cat "$dir/receiver.port")

cpsql -c "CREATE EXTENSION supamon" \
	-c "SELECT supamon_add_channel('bench', 'webhook', 'http://127.0.0.1:$port/bench')" >/dev/null

# milliseconds from queueing $alerts alerts to the last one sent
deliver() {
	local sends=$1 tag=$2
	cpsql -c "ALTER SYSTEM SET supamon.max_sends = $sends" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.3
	cpsql -c "INSERT INTO supamon.alert_outbox (channel_id, channel, project_name, job_name, event, criticality, message)
		SELECT c.id, 'webhook', 'bench', '$tag-' || g, 'failed', 'important', 'bench/$tag-' || g || ' failed'
		FROM supamon.alert_config c, generate_series(1, $alerts) g" \
		-c "SELECT pg_reload_conf()" >/dev/null
	until [ "$(cpsql -c "SELECT count(*) FROM supamon.alert_outbox WHERE job_name LIKE '$tag-%' AND state <> 'sent'")" = 0 ]; do
		sleep 0.05
	done
	cpsql -c "SELECT round(extract(epoch FROM max(sent_at) - min(created_at)) * 1000)
		FROM supamon.alert_outbox WHERE job_name LIKE '$tag-%'"
}

deliver 20 warmup >/dev/null
concurrent=() serial=()
for r in $(seq "$rounds"); do
	concurrent+=("$(deliver 20 "c$r")")
	serial+=("$(deliver 1 "s$r")")
done
mc=$(printf '%s\n' "${concurrent[@]}" | median)
ms=$(printf '%s\n' "${serial[@]}" | median)
echo "alerts delivered: $alerts per round, $rounds rounds, medians"
echo "  concurrent (max_sends 20): $mc ms   [${concurrent[*]}]"
echo "  one at a time (max_sends 1): $ms ms   [${serial[*]}]"
echo "  one at a time / concurrent: $(ratio "$ms" "$mc")"
