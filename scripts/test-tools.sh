#!/usr/bin/env bash
# Installs what the tests need besides the servers (scripts/services.sh
# installs those), from Debian's packages; nothing is downloaded at test
# time:
#   node          runs the /xp.js behaviour test (package nodejs)
#   curl, openssl run the partner guide's curl example against a server
#   chromium      the dashboard's browser tests (testkit/browser, headless)
#                 with fonts-dejavu-core so screenshots show readable text
set -euo pipefail
declare -A pkg=([node]=nodejs [curl]=curl [openssl]=openssl [chromium]=chromium)
# Files that are not commands, checked by path.
declare -A files=([/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf]=fonts-dejavu-core)
missing=()
for tool in "${!pkg[@]}"; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg[$tool]}")
done
for f in "${!files[@]}"; do
	[[ -e $f ]] || missing+=("${files[$f]}")
done
((${#missing[@]} == 0)) && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "test-tools: missing ${missing[*]} and there is no apt-get: install them by hand" >&2; exit 1; }
SUDO=
if ((EUID != 0)); then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; else
		echo "test-tools: missing ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
fi
echo "test-tools: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -q -o DPkg::Lock::Timeout=120 update >&2 || true
$SUDO apt-get -q -o DPkg::Lock::Timeout=120 install -y "${missing[@]}" >&2
for tool in "${!pkg[@]}"; do
	command -v "$tool" >/dev/null 2>&1 || { echo "test-tools: $tool still missing after apt-get install" >&2; exit 1; }
done
for f in "${!files[@]}"; do
	[[ -e $f ]] || { echo "test-tools: $f still missing after apt-get install" >&2; exit 1; }
done
