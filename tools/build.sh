#!/usr/bin/env bash
# One build of the book or of one page, as `make book` and `make chapter` run it:
#   tools/build.sh JUPYTER_BOOK SOURCE HTML
# builds SOURCE (the repository root, or one page's file) with warnings as errors; if the
# build fails, HTML (its output folder) is removed, so no broken or stale page is served.
set -uo pipefail
jupyter_book=$1 source=$2 html=$3
if ! "$jupyter_book" build "$source" --warningiserror --keep-going; then
	rm -rf "$html"
	echo "the build failed; $html was removed so no broken site is served." >&2
	exit 1
fi
