#!/usr/bin/env bash
# The one test command (`npm test`): make sure the machine is set up and the tree is built, then
# run every vitest project (unit + integration). Integration tests need root.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

set +e
npx --no-install vitest run "$@"
rc=$?
set -e
exit "$rc"
