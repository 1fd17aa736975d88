#!/usr/bin/env bash
# Installs what building and running splitbrain needs on a fresh Debian machine (run as root).
# Idempotent: packages already present are not fetched again. Extra package names given as
# arguments are installed too (the test suite adds chromium, for the report test, and Redis).
set -euo pipefail

packages=(iproute2 openssh-server iptables faketime procps protobuf-compiler "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Daemons packaged as services (redis-server, redis-sentinel) must not start on this machine
  # itself: the harness starts them in its test hosts. policy-rc.d forbids any start at install.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: no Rust toolchain (cargo) on PATH; install it with rustup" >&2; exit 1; }
