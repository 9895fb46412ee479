#!/usr/bin/env bash
# Every test, on a fresh Debian 12 machine, as root:  bash test/all.sh
#
# Installs the dependencies, builds with -Wall -Wextra -Werror and asserts,
# installs, then runs the C unit tests, pg_regress (make installcheck), the
# TAP tests (several clusters), the demo in its short, asserted mode (about
# two and a half minutes of real pg_cron) and a one-minute fuzzing run.
# Servers run as the postgres user on ports and sockets of their own, in a
# copy of the tree that user can write to.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

bash "$top/test/setup.sh" --asserts || { echo "setup failed"; exit 1; }

work=$(mktemp -d /tmp/supamon-test.XXXXXX)
cp -a "$top/." "$work/"
chown -R postgres: "$work"
as_pg() { runuser -u postgres -- "$@"; }

passed=0 failed=0
failures=()
step() {
	local name=$1; shift
	local start=$SECONDS
	echo "== $name"
	if "$@"; then
		passed=$((passed + 1)); echo "== $name: ok ($((SECONDS - start)) s)"
	else
		failed=$((failed + 1)); failures+=("$name"); echo "== $name: FAILED ($((SECONDS - start)) s)"
	fi
}

step unit make -s -C "$work" unitcheck
step regress as_pg make -s -C "$work" installcheck
step tap as_pg make -s -C "$work" prove-installcheck
# the demo's story, asserted, so that it cannot rot; it uses the build just
# installed rather than rebuilding without asserts
step demo bash "$top/demo/run.sh" --short --no-setup
# A bounded fuzzing run of the schedule parser (FUZZ_SECONDS, default 60).
step fuzz make -s -C "$work" fuzzcheck FUZZ_SECONDS="${FUZZ_SECONDS:-60}"

if [ $failed -gt 0 ]; then
	[ -f "$work/regression.diffs" ] && { echo "== regression.diffs"; cat "$work/regression.diffs"; }
	for f in "$work"/tmp_check/log/regress_log_*; do
		[ -f "$f" ] || continue
		if grep -q '^not ok' "$f"; then echo "== $f"; tail -n 60 "$f"; fi
	done
	echo "failed: ${failures[*]} (work tree kept in $work)"
else
	rm -rf "$work"
fi
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
