#!/usr/bin/env bash
# Installs what the tests need besides the servers (scripts/services.sh
# installs those): node, which runs the /xp.js behaviour test. Debian's
# package; nothing is downloaded at test time.
set -euo pipefail
command -v node >/dev/null 2>&1 && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "test-tools: node is missing and there is no apt-get: install Node.js by hand" >&2; exit 1; }
SUDO=
if ((EUID != 0)); then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; else
		echo "test-tools: node is missing; run as root or: sudo apt-get install -y nodejs" >&2
		exit 1
	fi
fi
echo "test-tools: installing nodejs with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -q -o DPkg::Lock::Timeout=120 update >&2 || true
$SUDO apt-get -q -o DPkg::Lock::Timeout=120 install -y nodejs >&2
command -v node >/dev/null 2>&1 || { echo "test-tools: node still missing after apt-get install nodejs" >&2; exit 1; }
