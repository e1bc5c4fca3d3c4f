"""The site_assets extension copies what pages published (the sampler's model files) into
the HTML site, and only there."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent


def site_assets():
    spec = importlib.util.spec_from_file_location(
        "site_assets", ROOT / "book" / "_ext" / "site_assets.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_published_files_are_copied_into_the_html_site_only(tmp_path, monkeypatch):
    published = tmp_path / "published"
    published.mkdir(parents=True)
    (published / "models.json").write_text("[]")
    monkeypatch.setenv("CHARLM_SITE", str(published))
    extension = site_assets()
    html = tmp_path / "html"
    stale = html / "_static" / "sampler" / "data" / "old.charlm"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    extension.copy_published(
        SimpleNamespace(outdir=str(html), builder=SimpleNamespace(format="html")), None
    )
    assert sorted(p.name for p in stale.parent.iterdir()) == ["models.json"]  # the latest only
    latex = tmp_path / "latex"
    extension.copy_published(
        SimpleNamespace(outdir=str(latex), builder=SimpleNamespace(format="latex")), None
    )
    assert not latex.exists()
