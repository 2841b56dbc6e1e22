#!/usr/bin/env bash
# Run one real container: a busybox bundle in a temp dir, `tsrunc spec`, `tsrunc run`.
# Needs root and a built tree (bash scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
tsrunc="$repo/bin/tsrunc"

[ "$(id -u)" -eq 0 ] || { echo "demo: error: run as root" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "demo: error: /bin/busybox missing: run bash scripts/setup.sh" >&2; exit 1; }
[ -f dist/cli/main.js ] || { echo "demo: error: not built: run bash scripts/setup.sh" >&2; exit 1; }

id="demo-$$"
bundle=$(mktemp -d /tmp/tsrunc-demo.XXXXXX)
cleanup() {
  "$tsrunc" delete --force "$id" >/dev/null 2>&1 || true
  # --one-file-system: never follow a mount that might have been left in the rootfs.
  rm -rf --one-file-system "$bundle"
}
trap cleanup EXIT

# Root filesystem: the static busybox and its applet symlinks.
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
chroot "$bundle/rootfs" /bin/busybox --install -s /bin
mkdir -p "$bundle/rootfs/"{proc,sys,dev,etc,tmp}
chmod 1777 "$bundle/rootfs/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
  >"$bundle/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$bundle/rootfs/etc/group"

# Default config, then: no terminal (stdin may not be a tty) and a command that shows the
# container from inside.
(cd "$bundle" && "$tsrunc" spec)
node -e '
  const fs = require("fs");
  const f = process.argv[1];
  const c = JSON.parse(fs.readFileSync(f, "utf8"));
  c.process.terminal = false;
  c.process.args = ["sh", "-c",
    "echo hello from $(hostname); id; ls /; cat /proc/self/status | grep -E \"^(Cap|NoNewPrivs|Seccomp)\""];
  fs.writeFileSync(f, JSON.stringify(c, null, 2));
' "$bundle/config.json"

echo "+ tsrunc run $id   (bundle $bundle)" >&2
set +e
(cd "$bundle" && "$tsrunc" run "$id")
rc=$?
set -e
echo "+ exit code $rc" >&2
exit "$rc"
