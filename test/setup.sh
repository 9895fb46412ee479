#!/usr/bin/env bash
# Installs what supamon needs on a Debian 12 machine (from apt), then builds
# and installs the extension.  Run as root.  Idempotent: packages already
# present are not fetched again.
#
#   bash test/setup.sh            release build
#   bash test/setup.sh --asserts  build with USE_ASSERT_CHECKING (the tests)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

packages=(
	postgresql-15 postgresql-server-dev-15 postgresql-15-cron
	libpq-dev libcurl4-openssl-dev libipc-run-perl
	make gcc clang libclang-rt-14-dev python3
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

copt=
[ "${1:-}" = --asserts ] && copt=-DUSE_ASSERT_CHECKING
echo "== building supamon${copt:+ with $copt}"
make -s -C "$top" clean
make -s -C "$top" COPT="$copt"
make -s -C "$top" install >/dev/null
