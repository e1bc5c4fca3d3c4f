"""Where the repository root is, for every local extension of the book (not an extension).

Jupyter Book reads the whole book from the repository root, and one chapter alone
(``make chapter``, ``jupyter-book build book/01_bigram.md``) from ``book/``. Either way it
takes its settings from the nearest ``_config.yml`` at or above the source folder, and so do
the extensions: that folder holds ``charlm/``, ``requirements/lock.txt`` and the bib file.
"""

from __future__ import annotations

from pathlib import Path

CONFIG = "_config.yml"


def repo_root(srcdir: str | Path) -> Path:
    """The nearest folder at or above ``srcdir`` holding ``_config.yml``, else ``srcdir``.

    The same folder Jupyter Book takes its configuration from.
    """
    srcdir = Path(srcdir).resolve()
    return next((d for d in (srcdir, *srcdir.parents) if (d / CONFIG).is_file()), srcdir)
