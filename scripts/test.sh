#!/usr/bin/env bash
# The one test command (`npm test`): make sure the machine is set up and the tree is built, then
# run every vitest project (unit + integration). Integration tests need root.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# Style is part of the build: eslint and prettier over src/ and test/ (a few seconds).
npm run --silent lint

set +e
npx --no-install vitest run "$@"
rc=$?
set -e
exit "$rc"
