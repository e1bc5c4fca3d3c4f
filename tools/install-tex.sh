#!/usr/bin/env bash
# Install XeLaTeX, latexmk, xindy, the fonts and pdftotext from Debian's packages, for `make pdf`.
# Does nothing when they are already there; runs apt-get update only when the install needs it.
set -euo pipefail

if command -v xelatex >/dev/null && command -v latexmk >/dev/null && command -v xindy >/dev/null \
	&& command -v pdftotext >/dev/null && fc-list | grep -q FreeSerif; then
	exit 0
fi

# what Sphinx's xelatex output and sphinx-jupyterbook-latex load (LaTeX packages,
# FreeSerif/FreeSans/FreeMono, the index through xindy; its class's `bbm' is stood in for by
# book/_latex/bbm.sty), and poppler's pdftotext/pdfinfo for the PDF's test
PACKAGES=(texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended
	texlive-plain-generic latexmk xindy fonts-freefont-otf lmodern poppler-utils)

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
	SUDO="sudo"
fi
apt_install() {
	$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
}
if ! apt_install 2>/dev/null; then
	$SUDO apt-get update -qq >/dev/null
	apt_install
fi
echo "install-tex: $(xelatex --version | head -1)"
