#!/usr/bin/env bash
# One-time (and idempotent) setup of a Debian 12 machine for tsrunc: system packages, npm
# dependencies, build. Run as root on a fresh machine; when everything is already in place it
# only rebuilds (incrementally) and takes a few seconds.
#
#   bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Debian packages: the addon toolchain (cmake-js uses ninja when it is installed, so we install
# it and always get the same generator), libseccomp for seccomp filters, busybox-static for test
# and demo root filesystems, and the host tools the tests call (nsenter, ip, ps).
# docker.io and containerd: the seccomp tests take Docker's default profile from a private
# dockerd (the JSON `docker run` sends), and the e2e tests run tsrunc under them. podman, conmon
# and containers-common (podman's default config files) for the podman e2e tests; tini is what
# `docker run --init` injects (docker-init), catatonit what `podman run --init` injects. None of
# them is started here (see policy-rc.d below). The engines run with --network none; the CRI
# tests give pods a network of their own with loopback alone, made by the CNI plugins `loopback`
# and `static` of containernetworking-plugins (test/helpers/cri.ts).
PACKAGES=(
  cmake g++ make ninja-build pkg-config libseccomp-dev
  busybox-static util-linux iproute2 procps strace
  docker.io containerd
  podman conmon golang-github-containers-common catatonit tini
  containernetworking-plugins
)

# --- Node.js -------------------------------------------------------------------------------
# Debian 12's own nodejs is 18; tsrunc needs 20 or later (the machine image ships it).
command -v node >/dev/null 2>&1 || die "node not found: install Node.js 20 or later"
command -v npm >/dev/null 2>&1 || die "npm not found: install npm (it ships with Node.js 20)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node $(node --version) is too old: tsrunc needs Node.js 20 or later"

# --- apt -----------------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages (${missing[*]}): run this script as root"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Installing must not start any daemon: a dockerd started by its package would make docker0
  # (172.17.0.0/16). policy-rc.d exit 101 tells invoke-rc.d not to start services.
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  [ -z "$added_policy" ] || rm -f /usr/sbin/policy-rc.d
else
  log "Debian packages present"
fi

# --- npm -----------------------------------------------------------------------------------
# `npm ci` wipes node_modules, so only run it when package-lock.json changed since the last run.
[ -f package-lock.json ] || die "package-lock.json is missing"
stamp=node_modules/.tsrunc-setup-lock-sha256
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then
  log "node_modules up to date"
else
  log "npm ci"
  npm ci --no-audit --no-fund
  printf '%s\n' "$lock_hash" >"$stamp"
fi

# --- build ---------------------------------------------------------------------------------
# Incremental: ninja rebuilds only changed addon sources; tsc is a few seconds.
log "npm run build"
npm run --silent build
[ -f dist/cli/main.js ] || die "build did not produce dist/cli/main.js"
[ -f dist/cli/tsrunc.bundle.js ] || die "build did not produce dist/cli/tsrunc.bundle.js"
[ -f build/addon/Release/tsrunc_native.node ] || die "build did not produce build/addon/Release/tsrunc_native.node"
log "done"
