"""The data fetch: good copies, bad checksums, missing files, unreachable or broken URLs.

Every failure must raise DataError naming both ways to provide the file, and leave no
partial file behind. No test touches the internet: URLs are file:// or a loopback server.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

from charlm import fetch
from charlm.fetch import ENV_VAR, NAMES_URL, DataError, fetch_names

CONTENT = b"emma\nolivia\nava"
SHA = hashlib.sha256(CONTENT).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def assert_helpful(err: DataError, url: str = NAMES_URL) -> None:
    """The message names both ways to provide the file: the variable and the URL."""
    text = str(err)
    assert ENV_VAR in text and "make data" in text and url in text


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src" / "names.txt"
    src.parent.mkdir()
    src.write_bytes(CONTENT)
    return src


@pytest.fixture
def dest_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


def test_copies_and_verifies_a_local_source(source, dest_dir):
    out = fetch_names(dest_dir / "names.txt", source=source, sha256=SHA)
    assert out.read_bytes() == CONTENT
    assert leftovers(dest_dir) == ["names.txt"]


def test_uses_the_environment_variable(source, dest_dir, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(source))
    fetch_names(dest_dir / "names.txt", sha256=SHA)
    assert (dest_dir / "names.txt").read_bytes() == CONTENT


def test_checksum_mismatch_leaves_nothing(source, dest_dir):
    with pytest.raises(DataError, match="failed verification") as exc:
        fetch_names(dest_dir / "names.txt", source=source, sha256="0" * 64)
    assert_helpful(exc.value)
    assert leftovers(dest_dir) == []


def test_real_checksum_rejects_a_wrong_file(source, dest_dir):
    # the default sha256 is the real dataset's: a different file must not pass
    with pytest.raises(DataError, match="failed verification"):
        fetch_names(dest_dir / "names.txt", source=source)
    assert leftovers(dest_dir) == []


def test_missing_source_file(tmp_path, dest_dir):
    with pytest.raises(DataError, match="could not read") as exc:
        fetch_names(dest_dir / "names.txt", source=tmp_path / "nope.txt", sha256=SHA)
    assert_helpful(exc.value)
    assert leftovers(dest_dir) == []


def test_file_url_download(source, dest_dir, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    fetch_names(dest_dir / "names.txt", url=source.as_uri(), sha256=SHA)
    assert (dest_dir / "names.txt").read_bytes() == CONTENT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_url(dest_dir, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    url = f"http://127.0.0.1:{_free_port()}/names.txt"  # nothing listens there
    with pytest.raises(DataError, match="could not read") as exc:
        fetch_names(dest_dir / "names.txt", url=url, sha256=SHA, timeout=5)
    assert_helpful(exc.value, url)
    assert leftovers(dest_dir) == []


class _Handler(http.server.BaseHTTPRequestHandler):
    body = CONTENT
    status = 200
    claimed_length: int | None = None  # a Content-Length larger than the body truncates it

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        self.send_response(self.status)
        self.send_header("Content-Length", str(self.claimed_length or len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server():
    """A loopback HTTP server whose answer each test sets on the handler class."""
    handler = type("Handler", (_Handler,), {})
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}/names.txt"
    httpd.shutdown()
    httpd.server_close()


def test_http_download(server, dest_dir, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    _, url = server
    fetch_names(dest_dir / "names.txt", url=url, sha256=SHA, timeout=5)
    assert (dest_dir / "names.txt").read_bytes() == CONTENT


@pytest.mark.parametrize(
    "change, message",
    [
        ({"status": 404}, "could not read"),
        ({"body": b"tampered"}, "failed verification"),
        ({"claimed_length": 10_000}, "cut short"),  # the connection closes mid-body
    ],
)
def test_http_failures_leave_nothing(server, dest_dir, monkeypatch, change, message):
    monkeypatch.delenv(ENV_VAR, raising=False)
    handler, url = server
    for key, value in change.items():
        setattr(handler, key, value)
    with pytest.raises(DataError, match=message) as exc:
        fetch_names(dest_dir / "names.txt", url=url, sha256=SHA, timeout=5)
    assert_helpful(exc.value, url)
    assert leftovers(dest_dir) == []


def test_keeps_a_verified_file_without_fetching(source, dest_dir):
    (dest_dir / "names.txt").write_bytes(CONTENT)
    fetch_names(dest_dir / "names.txt", source=source.parent / "absent.txt", sha256=SHA)
    assert (dest_dir / "names.txt").read_bytes() == CONTENT


def test_a_corrupt_file_is_untouched_when_the_fetch_fails(tmp_path, dest_dir):
    (dest_dir / "names.txt").write_bytes(b"corrupt")
    with pytest.raises(DataError):
        fetch_names(dest_dir / "names.txt", source=tmp_path / "absent.txt", sha256=SHA)
    assert (dest_dir / "names.txt").read_bytes() == b"corrupt"
    assert leftovers(dest_dir) == ["names.txt"]


def test_a_corrupt_file_is_replaced_by_a_verified_copy(source, dest_dir):
    (dest_dir / "names.txt").write_bytes(b"corrupt")
    fetch_names(dest_dir / "names.txt", source=source, sha256=SHA)
    assert (dest_dir / "names.txt").read_bytes() == CONTENT


def test_command_line_failure_is_a_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "absent.txt"))
    dest = tmp_path / "data" / "names.txt"
    assert fetch.main([str(dest)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and ENV_VAR in err and NAMES_URL in err
    assert not dest.exists()


def test_a_surname_archive_that_fails_verification_writes_nothing(tmp_path, monkeypatch):
    import io
    import tarfile

    from charlm.fetch import SURNAMES_MEMBER, fetch_surnames

    archive = tmp_path / "names-0.3.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"SMITH  1.006  1.006  1\n"
        info = tarfile.TarInfo(SURNAMES_MEMBER)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    monkeypatch.setenv("CHARLM_SURNAMES", str(archive))
    dest = tmp_path / "surnames.txt"
    with pytest.raises(DataError, match="failed verification"):
        fetch_surnames(dest)
    assert not dest.exists() and list(tmp_path.iterdir()) == [archive]


def test_the_surnames_are_the_verified_list():
    from charlm.data import SURNAMES, load_words
    from charlm.fetch import SURNAMES_SHA256, sha256_of

    if not SURNAMES.is_file() or sha256_of(SURNAMES) != SURNAMES_SHA256:
        pytest.skip(f"no verified {SURNAMES}: run `make data` (it asks pip for PyPI's names)")
    words = load_words(SURNAMES)
    assert len(words) == 88_799 and words[:3] == ["smith", "johnson", "williams"]
    assert all(w.isalpha() and w.islower() for w in words)
