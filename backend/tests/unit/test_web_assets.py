"""The dashboard's assets: all local, the vendored ones exactly as the npm registry shipped them."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from bs4 import BeautifulSoup

from app.web.app import STATIC_DIR
from app.web.templating import TEMPLATE_DIR

VENDOR = STATIC_DIR / "vendor"


def _recorded_hashes() -> dict[str, str]:
    table = (VENDOR / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", table, flags=re.MULTILINE))


def test_vendored_files_are_the_ones_recorded() -> None:
    recorded = _recorded_hashes()
    shipped = {path.name for path in VENDOR.iterdir() if path.suffix in (".js", ".css")}
    assert shipped and set(recorded) == shipped
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_templates_load_only_files_of_this_server() -> None:
    loaded: list[str] = []
    for template in TEMPLATE_DIR.rglob("*.html"):
        markup = BeautifulSoup(template.read_text(encoding="utf-8"), "html.parser")
        loaded += [tag["src"] for tag in markup.find_all(src=True)]
        loaded += [tag["href"] for tag in markup.find_all("link", href=True)]
        assert not markup.find_all(style=True), f"{template.name}: inline style (the CSP refuses it)"
        assert not [s for s in markup.find_all("script") if not s.get("src")], f"{template.name}: inline script"
    assert loaded and all(url.startswith("/static/") for url in loaded), loaded
    for url in loaded:
        assert (STATIC_DIR / Path(url).relative_to("/static")).is_file(), url
