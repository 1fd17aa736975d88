#!/usr/bin/env bash
# The whole test suite: set up, check formatting and lints, run every test of the workspace,
# and end with one summary line "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh chromium redis-server redis-sentinel etcd-server libxml2-utils shellcheck
./scripts/lint-tools.sh
./scripts/junit-schema.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The real-cluster tests deploy the replica and delayer binaries, which `cargo test` alone does not
# build for a package without integration tests of its own.
cargo build --workspace --bins --quiet
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
sum() { grep -E '^test result:' "$log" | grep -oE "[0-9]+ $1" | awk '{s += $1} END {print s + 0}'; }
echo "tests: $(sum passed) passed, $(sum failed) failed"
exit "$status"
