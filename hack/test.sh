#!/usr/bin/env bash
# The test command: set everything up, then run the whole suite against real
# Redis, a real local Kubernetes control plane and loopback provider servers.
#   hack/test.sh                # everything
#   hack/test.sh -m unit        # extra args go to pytest
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash hack/setup.sh
set +e
# A private base temp dir: pytest prunes old ones at start, which must never
# touch the live cluster of another run on the same machine.
basetemp=$(mktemp -d /tmp/devskyy-tests.XXXXXX)
.venv/bin/python -m pytest --basetemp="$basetemp/pytest" "$@"
code=$?
set -e
if [[ $code -eq 5 ]]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
[[ $code -eq 0 ]] && rm -rf "$basetemp"
exit $code
