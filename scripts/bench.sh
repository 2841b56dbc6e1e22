#!/usr/bin/env bash
# Compare tsrunc with runc in one run (hyperfine): --version, list on an empty root, state of a
# created container, and a full `run` of `true` in a busybox bundle. Prints tsrunc/runc ratios.
# Then the library (scripts/bench-library.js) and the containerd shims (scripts/bench-shim.js).
# Needs root. Not part of the tests: timings never decide pass or fail.
#
#   bash scripts/bench.sh            (npm run bench)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
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

TSRUNC="$repo/bin/tsrunc"
work=$(mktemp -d /tmp/tsrunc-bench.XXXXXX)
bundle="$work/bundle"
sid="bench-state-$$"
cleanup() {
  runc --root "$work/runc-root" delete --force "$sid" >/dev/null 2>&1 || true
  "$TSRUNC" --root "$work/tsrunc-root" delete --force "$sid" >/dev/null 2>&1 || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
mkdir -p "$work/runc-root" "$work/tsrunc-root" "$work/runc-empty" "$work/tsrunc-empty"

# Busybox bundle with runc's default config (both runtimes get the same one), running `true`.
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
chroot "$bundle/rootfs" /bin/busybox --install -s /bin
mkdir -p "$bundle/rootfs/"{proc,sys,dev,etc,tmp}
(cd "$bundle" && runc spec)
node -e '
  const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f, "utf8"));
  c.process.terminal = false;
  c.process.args = ["true"];
  fs.writeFileSync(f, JSON.stringify(c, null, 2));
' "$bundle/config.json"

# One created container per runtime for `state`.
runc --root "$work/runc-root" create --bundle "$bundle" "$sid" </dev/null >/dev/null 2>&1 ||
  die "runc create failed"
"$TSRUNC" --root "$work/tsrunc-root" create --bundle "$bundle" "$sid" </dev/null >/dev/null 2>&1 ||
  die "tsrunc create failed"

names=(version list state run)
runc_cmds=(
  "runc --version"
  "runc --root $work/runc-empty list"
  "runc --root $work/runc-root state $sid"
  "runc --root $work/runc-root run --bundle $bundle bench-run-runc"
)
tsrunc_cmds=(
  "$TSRUNC --version"
  "$TSRUNC --root $work/tsrunc-empty list"
  "$TSRUNC --root $work/tsrunc-root state $sid"
  "$TSRUNC --root $work/tsrunc-root run --bundle $bundle bench-run-tsrunc"
)

for i in "${!names[@]}"; do
  echo
  echo "=== ${names[$i]}"
  hyperfine -N --warmup 3 --export-json "$work/${names[$i]}.json" \
    -n "runc ${names[$i]}" "${runc_cmds[$i]}" \
    -n "tsrunc ${names[$i]}" "${tsrunc_cmds[$i]}"
done

echo
node -e '
  const fs = require("fs");
  const [dir, ...names] = process.argv.slice(1);
  const ms = (s) => (s * 1000).toFixed(1).padStart(9);
  console.log("benchmark   runc (ms)  tsrunc (ms)  tsrunc/runc");
  for (const n of names) {
    const [r, t] = JSON.parse(fs.readFileSync(`${dir}/${n}.json`, "utf8")).results;
    console.log(`${n.padEnd(10)} ${ms(r.mean)}  ${ms(t.mean)}    ${(t.mean / r.mean).toFixed(2).padStart(8)}x`);
  }
' "$work" "${names[@]}"

# The library: many containers in one process, the event loop's delay meanwhile.
echo
node -e '
  const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f, "utf8"));
  c.process.args = ["sleep", "1000"];
  fs.writeFileSync(f, JSON.stringify(c, null, 2));
' "$bundle/config.json"
node scripts/bench-library.js "$bundle" 50

# containerd's shims: io.containerd.runc.v2 (Go shim + runc) vs io.containerd.tsrunc.v1, under a
# private containerd (throughput of `ctr run --rm`, shim memory per idle container).
echo
node scripts/bench-shim.js
