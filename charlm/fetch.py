"""Get ``names.txt`` from ``$CHARLM_NAMES`` or its canonical URL, checksum-verified (Chapter 1).

Run as ``python -m charlm.fetch [DEST]`` (``make data`` does). The file is written to a
temporary file beside ``DEST``, verified, then renamed: a failure never leaves a partial
or unverified ``DEST`` behind.

A second word list, for the page on the ``charlm`` command, comes from a package registry
the same way: ``python -m charlm.fetch --surnames [DEST]`` asks pip for the source archive
of PyPI's ``names`` package (which ships the 1990 U.S. Census list of surnames), checks
its sha256, and writes the surnames lowercased, one per line (``$CHARLM_SURNAMES`` may name
a local copy of the archive instead).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
ENV_VAR = "CHARLM_NAMES"
_CHUNK = 1 << 16


SURNAMES_REQUIREMENT = "names==0.3.0"  # PyPI's `names`: the 1990 U.S. Census surnames
SURNAMES_ARCHIVE = "names-0.3.0.tar.gz"
SURNAMES_ARCHIVE_SHA256 = "726e46254f2ed03f1ffb5d941dae3bc67c35123941c29becd02d48d0caa2a671"
SURNAMES_MEMBER = "names-0.3.0/names/dist.all.last"  # "SMITH  1.006  1.006  1" per line
SURNAMES_SHA256 = (
    "4ec7babc98a4ed0347b97fe26d7df34520c577c4e587abf8924e8ddd6939a01d"  # of surnames.txt
)
SURNAMES_ENV = "CHARLM_SURNAMES"


class DataError(RuntimeError):
    """The dataset could not be provided or failed verification (Chapter 1)."""


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (Chapter 1)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def how_to_provide(url: str = NAMES_URL, sha256: str = NAMES_SHA256) -> str:
    """The two ways to provide names.txt, for error messages (Chapter 1)."""
    return (
        "Provide names.txt in one of two ways:\n"
        f"  1. point {ENV_VAR} at a local copy, e.g.  {ENV_VAR}=/path/to/names.txt make data\n"
        f"  2. with internet access, unset {ENV_VAR} and run  make data  to download\n"
        f"     {url}\n"
        f"The file must have sha256 {sha256}."
    )


def _open_source(source, url: str, timeout: float):
    """A binary reader over the local file ``source``, or over ``url`` when it is None."""
    if source is not None:
        return open(source, "rb")
    return urllib.request.urlopen(url, timeout=timeout)


def fetch_names(
    dest: str | os.PathLike,
    source: str | os.PathLike | None = None,
    url: str = NAMES_URL,
    sha256: str = NAMES_SHA256,
    timeout: float = 30.0,
) -> Path:
    """Write a verified copy of names.txt to ``dest`` and return its path (Chapter 1).

    ``source`` is a local file to copy; when None, ``$CHARLM_NAMES`` is used if set, else
    ``url`` is downloaded. An existing ``dest`` with the right checksum is kept as is.
    Raises DataError with instructions on any failure; ``dest`` is then left as it was.
    """
    dest = Path(dest)
    if dest.is_file() and sha256_of(dest) == sha256:
        return dest
    if source is None:
        source = os.environ.get(ENV_VAR) or None
    origin = f"{ENV_VAR}={source}" if source is not None else url
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, _open_source(source, url, timeout) as reader:
                received = 0
                for chunk in iter(lambda: reader.read(_CHUNK), b""):
                    h.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
                announced = getattr(reader, "headers", {}).get("Content-Length")
                if announced is not None and int(announced) != received:
                    raise OSError(f"download cut short: {received} of {announced} bytes")
        # missing file, refused connection, DNS failure, HTTP error status, truncated body
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, urllib.error.HTTPError):
                exc.close()  # an HTTP error status still holds the open response
            raise DataError(
                f"could not read names.txt from {origin}: {exc}\n{how_to_provide(url, sha256)}"
            ) from exc
        if h.hexdigest() != sha256:
            raise DataError(
                f"names.txt from {origin} failed verification: sha256 {h.hexdigest()}, "
                f"expected {sha256}.\n{how_to_provide(url, sha256)}"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def fetch_surnames(dest: str | os.PathLike, archive: str | os.PathLike | None = None) -> Path:
    """Write the verified surname list to ``dest`` and return its path (the command's page).

    ``archive`` is a local copy of the ``names`` package's source archive; when None,
    ``$CHARLM_SURNAMES`` is used if set, else pip downloads it from the package index.
    An existing ``dest`` with the right checksum is kept. Raises DataError on any failure,
    leaving ``dest`` as it was.
    """
    dest = Path(dest)
    if dest.is_file() and sha256_of(dest) == SURNAMES_SHA256:
        return dest
    archive = archive or os.environ.get(SURNAMES_ENV) or None
    with tempfile.TemporaryDirectory() as tmp:
        if archive is None:
            archive = _pip_download(SURNAMES_REQUIREMENT, Path(tmp)) / SURNAMES_ARCHIVE
        archive = Path(archive)
        if not archive.is_file():
            raise DataError(f"no archive at {archive} ({SURNAMES_ENV} or pip)")
        if sha256_of(archive) != SURNAMES_ARCHIVE_SHA256:
            raise DataError(f"{archive} failed verification: expected sha256 "
                            f"{SURNAMES_ARCHIVE_SHA256}")  # fmt: skip
        with tarfile.open(archive) as tar:
            member = tar.extractfile(SURNAMES_MEMBER)
            if member is None:
                raise DataError(f"{archive} has no {SURNAMES_MEMBER}")
            lines = member.read().decode("ascii").splitlines()
    text = "\n".join(line.split()[0].lower() for line in lines if line.strip()) + "\n"
    data = text.encode()
    if hashlib.sha256(data).hexdigest() != SURNAMES_SHA256:
        raise DataError(f"the surnames written from {archive} are not the expected ones")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = dest.with_name(f".{dest.name}.part")
    tmp_path.write_bytes(data)
    os.replace(tmp_path, dest)
    return dest


def _pip_download(requirement: str, folder: Path) -> Path:
    """The source archive of ``requirement``, downloaded by pip into ``folder``."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--no-binary", ":all:", "--dest", str(folder), requirement]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise DataError(
            f"pip could not download {requirement}: {done.stderr.strip()[-500:]}\n"
            f"Without a package index, point {SURNAMES_ENV} at a copy of {SURNAMES_ARCHIVE} "
            f"(sha256 {SURNAMES_ARCHIVE_SHA256})."
        )
    return folder


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m charlm.fetch [--surnames] [DEST]``.

    The default is ``data/names.txt``; with ``--surnames``, ``data/surnames.txt``.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    surnames = "--surnames" in args
    args = [a for a in args if a != "--surnames"]
    dest = Path(args[0]) if args else Path("data/surnames.txt" if surnames else "data/names.txt")
    try:
        path = fetch_surnames(dest) if surnames else fetch_names(dest)
    except DataError as exc:
        print(f"charlm: {exc}", file=sys.stderr)
        return 1
    digest = SURNAMES_SHA256 if surnames else NAMES_SHA256
    print(f"charlm: {path} verified (sha256 {digest[:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
