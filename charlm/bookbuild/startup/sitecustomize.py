"""Run by Python as it starts, in the book's kernels only: the build puts this folder on
their ``PYTHONPATH`` (``book/_ext/execution.py``). It plugs the build into charlm
(``charlm.bookbuild.seam``)."""

from charlm.bookbuild.seam import install

install()
