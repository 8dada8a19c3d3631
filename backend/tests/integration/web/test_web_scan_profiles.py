"""The new-scan form offers the scan profiles and its preview counts the attempts of the chosen one."""

from __future__ import annotations

from app.db.enums import UserRole
from tests.integration.web.conftest import Web, soup

#: pi.direct.non_english has six prompts: quick sends 2 of them, full all 6.
PROBE = "id:pi.direct.non_english"


def test_the_new_scan_form_offers_the_profiles_and_counts_attempts_by_profile(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    created = analyst.post(
        "/targets", {"name": "bot", "type": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
    )
    assert created.status_code == 303, created.text[:300]
    form = soup(analyst.get("/scans/new"))
    options = [option["value"] for option in form.select("select#profile option")]
    assert options == ["quick", "standard", "full"]
    assert form.select_one("select#profile option[selected]")["value"] == "quick"
    counts = {}
    for profile in ("quick", "full"):
        preview = analyst.post(
            "/scans/preview", {"selection": PROBE, "strategies": ["none", "base64"], "profile": profile}, htmx=True
        )
        counts[profile] = int(soup(preview).select_one("[data-attempts]")["data-attempts"])
    assert counts == {"quick": 4, "full": 12}
