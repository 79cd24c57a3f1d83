#!/usr/bin/env bash
# The newcomer's first command: install what is missing, then run the whole
# stack locally (cluster, Redis, operator, bridge, API) with one sample task of
# every type, showing their progress live. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash hack/setup.sh
rm -rf .devskyy/stack
exec .venv/bin/devskyy-devcluster up --workdir .devskyy/stack "$@"
