#!/usr/bin/env bash
# Sets up a fresh machine for till: the system tools it drives and its tests use
# (OpenSSH client and server, rsync, git, …), the npm dependencies, and the build.
# Safe to re-run. System packages are installed only when missing (apt-get, as root
# or through sudo); elsewhere it says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

# binary → Debian package
declare -A NEED=(
  [ssh]=openssh-client
  [ssh-keygen]=openssh-client
  [sshd]=openssh-server
  [rsync]=rsync
  [git]=git
  [promtool]=prometheus
  [chromium]=chromium
  [systemd-analyze]=systemd
  [crontab]=cron
  [runuser]=util-linux
  [unshare]=util-linux
  [script]=bsdutils
  [tcsh]=tcsh
  [ansible]=ansible-core
  [tzselect]=tzdata
)
missing=()
for bin in "${!NEED[@]}"; do
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then missing+=("${NEED[$bin]}"); fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
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
