#!/usr/bin/env bash
# The one test command (`npm test`): make sure the machine is set up and the tree is built, then
# run the vitest projects unit and integration. Integration tests need root.
# With CI=true (CI runs `bash .ci/run` -> `npm test`) the soak project runs after them too; the
# command fails if either run fails. Locally: `npm run test:soak`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# Style is part of the build: eslint and prettier over src/ and test/ (a few seconds).
npm run --silent lint

set +e
npx --no-install vitest run --project unit --project integration "$@"
rc=$?
if [ "${CI:-}" = "true" ]; then
  npx --no-install vitest run --project soak
  soak_rc=$?
  if [ "$rc" -eq 0 ]; then rc=$soak_rc; fi
fi
set -e
exit "$rc"
