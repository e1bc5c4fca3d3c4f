#!/usr/bin/env bash
# Install headless Chromium and its driver from Debian's packages, for `make check-site`.
# Does nothing when both are already there; runs apt-get update only when the install needs it.
set -euo pipefail

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
	SUDO="sudo"
fi
apt_install() {
	$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
}

# a fresh machine may have no package lists yet (or stale ones): update once, then retry
if ! apt_install 2>/dev/null; then
	$SUDO apt-get update -qq >/dev/null
	apt_install
fi
echo "install-browser: $(/usr/bin/chromium --version 2>/dev/null) and $(/usr/bin/chromedriver --version | cut -d' ' -f1-2)"
