#!/usr/bin/env bash
# Puts the Jenkins JUnit schema (dtkit's junit-4.xsd, which the junit-report crate on crates.io
# ships as tests/JUnit.xsd) in target/junit-schema/, for the test that validates every junit.xml
# splitbrain writes (harness/tests/stored_results.rs). Fetched from crates.io by cargo itself.
set -euo pipefail
cd "$(dirname "$0")/.."
schema=target/junit-schema/junit-4.xsd
[ -s "$schema" ] && exit 0
fetch=target/junit-schema/fetch
mkdir -p "$fetch/src"
cat > "$fetch/Cargo.toml" <<'TOML'
[package]
name = "junit-schema-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
junit-report = "=0.9.1"

[workspace]
TOML
: > "$fetch/src/lib.rs"
cargo fetch --quiet --manifest-path "$fetch/Cargo.toml"
crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/junit-report-0.9.1.crate | head -n 1)
tar -xzf "$crate" -O junit-report-0.9.1/tests/JUnit.xsd > "$schema.tmp"
mv "$schema.tmp" "$schema"
