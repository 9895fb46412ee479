#!/usr/bin/env bash
# Two versions of supamon through the same benchmark, alternating, so that
# the machine's noise falls on both alike.
#
#   bash bench/compare.sh REV_A REV_B [PASSES] -- BENCH [ARGS...]
#   bash bench/compare.sh fabeded HEAD 2 -- bench/scale.sh 3     (as root)
#
# Each pass builds and installs REV_A, runs its copy of BENCH, then the same
# for REV_B (each version with its own benchmark script, so a script that
# changed is compared as it was).  The last lines of each run are printed
# under a header naming the version and pass; take the median of each
# version's figures.  The revisions are checked out in temporary worktrees,
# removed at the end; the version installed last is REV_B.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 4 ] || { echo "usage: $0 REV_A REV_B [PASSES] -- BENCH [ARGS...]" >&2; exit 2; }
rev_a=$1 rev_b=$2; shift 2
passes=1
if [ "$1" != -- ]; then passes=$1; shift; fi
[ "$1" = -- ] || { echo "usage: $0 REV_A REV_B [PASSES] -- BENCH [ARGS...]" >&2; exit 2; }
shift
bench=$1; shift

work=$(mktemp -d /tmp/supamon-compare.XXXXXX)
# the benchmarks run some of their files as the postgres user
chmod 755 "$work"
cleanup() {
	git -C "$top" worktree remove --force "$work/a" >/dev/null 2>&1 || true
	git -C "$top" worktree remove --force "$work/b" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
git -C "$top" worktree add --detach "$work/a" "$rev_a" >/dev/null
git -C "$top" worktree add --detach "$work/b" "$rev_b" >/dev/null

for pass in $(seq "$passes"); do
	for side in a b; do
		rev=$rev_a; [ $side = b ] && rev=$rev_b
		echo "== $rev ($(git -C "$work/$side" rev-parse --short HEAD)), pass $pass"
		# each benchmark script runs test/setup.sh: its own tree is built and installed
		bash "$work/$side/$bench" "$@" 2>&1 | grep -v '^NOTICE' | tail -n "${LINES_SHOWN:-4}"
	done
done
