#!/usr/bin/env bash
# Compare tsrunc with runc: the CLI (scripts/bench-cli.js: each command's start-up cost, peak RSS,
# `docker run` through either runtime), the library (scripts/bench-library.js) and the containerd
# shims (scripts/bench-shim.js). Needs root. Not part of the tests: timings never decide pass or
# fail.
#
#   bash scripts/bench.sh            (npm run bench)
set -euo pipefail
cd "$(dirname "$0")/.."
# Adds ~50 ms to every node start on these machines; not tsrunc's cost.
unset NODE_EXTRA_CA_CERTS

die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root"

missing=()
for p in runc hyperfine; do command -v "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
[ -f dist/cli/main.js ] || die "not built: run bash scripts/setup.sh"

# Each CLI call engines make (hyperfine, next to runc's and a bare node's start), peak RSS,
# and `docker run` through either runtime under a private dockerd.
node scripts/bench-cli.js

work=$(mktemp -d /tmp/tsrunc-bench.XXXXXX)
bundle="$work/bundle"
trap 'rm -rf --one-file-system "$work"' EXIT

# Busybox bundle with runc's default config, its containers idle (`sleep 1000`).
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
chroot "$bundle/rootfs" /bin/busybox --install -s /bin
mkdir -p "$bundle/rootfs/"{proc,sys,dev,etc,tmp}
(cd "$bundle" && runc spec)
node -e '
  const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f, "utf8"));
  c.process.terminal = false;
  c.process.args = ["sleep", "1000"];
  fs.writeFileSync(f, JSON.stringify(c, null, 2));
' "$bundle/config.json"

# The library: many containers in one process, the event loop's delay meanwhile.
echo
node scripts/bench-library.js "$bundle" 50

# containerd's shims: io.containerd.runc.v2 (Go shim + runc) vs io.containerd.tsrunc.v1, under a
# private containerd (throughput of `ctr run --rm`, shim memory per idle container).
echo
node scripts/bench-shim.js
