#!/usr/bin/env bash
# Runs every example in order; stops at the first that fails.
set -euo pipefail
dir=${1:-build/plain}
for ex in db_example account_example account_task ledger_example chan_pipeline; do
    echo "== examples/$ex"
    "$dir/examples/$ex"
    echo
done
