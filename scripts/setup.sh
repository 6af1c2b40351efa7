#!/usr/bin/env bash
# Sets up a machine to run till from this checkout, and to try its demo: the system
# tools till drives (OpenSSH client, rsync, git; sshd and util-linux's runuser for the
# demo's throwaway hosts), the npm dependencies, and the build. Safe to re-run. System
# packages are installed only when missing (apt-get, as root or through sudo); elsewhere
# it says what to install.
#
#   scripts/setup.sh           what a user needs              (npm run setup)
#   scripts/setup.sh --test    that, and what only the tests use (npm run setup:test)
#   scripts/setup.sh --check   install nothing: list the test tools that are missing and
#                              how to get them, exit 1 if any is (npm test runs this first)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-user}

# binary → Debian package
declare -A USER_NEEDS=(
  [ssh]=openssh-client
  [ssh-keygen]=openssh-client
  [sshd]=openssh-server
  [rsync]=rsync
  [git]=git
  [runuser]=util-linux
)
# Only the test suite uses these: promtool checks the metrics, chromium renders the
# status page, systemd-analyze and crontab check the scheduler files, tcsh is a login
# shell under test, ansible runs through host export's inventory, zoneinfo for TZ tests,
# script for a pseudo-terminal, zsh and fish run the completion scripts, man renders the
# man page.
declare -A TEST_NEEDS=(
  [promtool]=prometheus
  [chromium]=chromium
  [systemd-analyze]=systemd
  [crontab]=cron
  [tcsh]=tcsh
  [ansible]=ansible-core
  [tzselect]=tzdata
  [unshare]=util-linux
  [script]=bsdutils
  [zsh]=zsh
  [fish]=fish
  [man]=man-db
)

missing_from() {
  local -n table=$1
  local bin
  for bin in "${!table[@]}"; do
    if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then echo "${table[$bin]}"; fi
  done
}

case $mode in
  user) missing=$(missing_from USER_NEEDS) ;;
  --test) missing=$( (missing_from USER_NEEDS; missing_from TEST_NEEDS) ) ;;
  --check)
    missing=$( (missing_from USER_NEEDS; missing_from TEST_NEEDS) | sort -u | tr '\n' ' ')
    if [ -n "$missing" ]; then
      echo "the tests need these system packages: $missing" >&2
      echo "install them with: npm run setup:test   (apt-get install -y $missing)" >&2
      exit 1
    fi
    exit 0
    ;;
  *)
    echo "usage: scripts/setup.sh [--test | --check]" >&2
    exit 2
    ;;
esac

pkgs=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
if [ -n "${pkgs// /}" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing system packages: $pkgs" >&2
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  else
    echo "setup: please install: $pkgs" >&2
    exit 1
  fi
fi
# A root sshd refuses to start without its privilege-separation directory.
if [ "$(id -u)" -eq 0 ]; then install -d -m 0755 /run/sshd; fi

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("setup: till needs Node.js >= 20.19, this is "+process.version); process.exit(1) }'
npm ci --no-audit --no-fund
npm run build
echo "setup: done" >&2
