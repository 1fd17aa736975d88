#!/usr/bin/env bash
# The main job: set up, build, and run a real test on a local cluster the harness makes itself
# (5 replica hosts and a name-server host in network namespaces, each with its own sshd),
# with partitions and kills for 30 s, then heal, recovery, the stability window and the verdict.
# The replicas run the safe setting (`ack: every-member`), the correct group every false-alarm
# count runs against; `--ack async` or `--ack all` runs the seeds' own settings instead.
# Extra arguments go to `splitbrain test` (they override these). Exit code: 0 valid, 1 invalid,
# 2 unknown, 254 bad input, 255 harness failure.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --workspace --quiet
exec ./target/release/splitbrain test --name main --nodes 5 --time-limit 30 --nemesis partition,kill \
  --nemesis-interval 5 --ack every-member "$@"
