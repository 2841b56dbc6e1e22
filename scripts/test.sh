#!/usr/bin/env bash
# The one test command (`npm test`): make sure the machine is set up and the tree is built, then
# run the vitest projects unit and integration, then e2e. Integration and e2e tests need root.
# With CI=true (CI runs `bash .ci/run` -> `npm test`) the soak project runs after them too; the
# command fails if either run fails. Locally: `npm run test:soak`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# Some shells here set NODE_EXTRA_CA_CERTS, which makes every node start read a CA bundle (~45 ms).
# The suite starts tsrunc thousands of times and nothing in it speaks TLS.
unset NODE_EXTRA_CA_CERTS

# Style is part of the build: eslint and prettier over src/ and test/ (a few seconds).
npm run --silent lint

# With a file filter, a run whose projects hold none of the files is not a failure.
pass_empty=()
if [ "$#" -gt 0 ]; then pass_empty=(--passWithNoTests); fi

set +e
npx --no-install vitest run --project unit --project integration "${pass_empty[@]}" "$@"
rc=$?
# e2e: tsrunc under real engines (containerd, dockerd, podman, started by the tests). A run of
# its own, after the others: its containers would otherwise show up in their leak checks.
npx --no-install vitest run --project e2e "${pass_empty[@]}" "$@"
e2e_rc=$?
if [ "$rc" -eq 0 ]; then rc=$e2e_rc; fi
if [ "${CI:-}" = "true" ]; then
  npx --no-install vitest run --project soak
  soak_rc=$?
  if [ "$rc" -eq 0 ]; then rc=$soak_rc; fi
fi
set -e
exit "$rc"
