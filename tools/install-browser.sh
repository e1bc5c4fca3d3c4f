#!/usr/bin/env bash
# Install headless Chromium and its driver from Debian's packages, then axe-core (exactly the
# version and integrity in tools/axe/package-lock.json) from the npm registry with npm ci, for
# `make check-site`. Does nothing when all are already there; runs apt-get update only when an
# install needs it; installs Debian's npm only where there is no npm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."  # the repo root, wherever this is run from

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
	SUDO="sudo"
fi
apt_install() {
	# a fresh machine may have no package lists yet (or stale ones): update once, then retry
	if ! $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
		$SUDO apt-get update -qq >/dev/null
		$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
	fi
}

if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
	apt_install chromium chromium-driver
	echo "install-browser: $(/usr/bin/chromium --version 2>/dev/null) and $(/usr/bin/chromedriver --version | cut -d' ' -f1-2)"
fi

if [[ ! -f tools/axe/node_modules/axe-core/axe.min.js ]]; then
	if ! command -v npm >/dev/null; then
		apt_install npm
	fi
	npm ci --prefix tools/axe --no-audit --no-fund --loglevel=error >/dev/null
	echo "install-browser: axe-core $(node -p 'require("./tools/axe/node_modules/axe-core/package.json").version')"
fi
