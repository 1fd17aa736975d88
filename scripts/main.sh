#!/usr/bin/env bash
# The main job: set up, build, and run a real test on a local group.
# Until `splitbrain test` lands, that is the fail-over demonstration: a name server and five
# replicas as real processes on 127.0.0.1, writes acknowledged with ack=all, SIGKILL of the
# master, and the new master with the data it kept. Extra arguments go to `splitbrain demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --workspace --quiet
exec ./target/release/splitbrain demo "$@"
