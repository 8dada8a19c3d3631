"""Housekeeping in the dashboard: delete pages that say what goes before anything goes, confirmations on revoke
and disable, the least role preselected for a new token with a copy button, and audit log filters and export
as a browser submits them (blank fields included)."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.enums import ScanStatus, Severity, UserRole
from app.db.models import Scan, Target, User, Vulnerability
from app.db.session import make_engine
from tests.integration.web.conftest import Web, soup


def _add_scan(url: str, target_id: int, status: ScanStatus, findings: int) -> int:
    with Session(make_engine(url)) as session:
        analyst = session.scalars(select(User).where(User.username == "analyst")).one()
        scan = Scan(
            name=f"{status.value} scan",
            model_name="m",
            model_type="ollama",
            status=status,
            created_by=analyst.id,
            target_id=target_id,
        )
        session.add(scan)
        session.flush()
        for number in range(findings):
            session.add(Vulnerability(scan_id=scan.id, title=f"finding {number}", severity=Severity.HIGH))
        session.commit()
        return scan.id


def test_deleting_a_scan_and_a_target_asks_first_and_says_what_goes(web: Web) -> None:
    analyst = web.signed_in(UserRole.ANALYST)
    created = analyst.post("/targets", {"name": "old-bot", "type": "ollama", "model": "m"})
    assert created.status_code == 303, created.text
    target_id = int(created.headers["location"].rsplit("/", 1)[1])
    done = _add_scan(web.url, target_id, ScanStatus.COMPLETED, findings=3)
    running = _add_scan(web.url, target_id, ScanStatus.RUNNING, findings=0)

    target_page = analyst.page(f"/targets/{target_id}")  # lists its scans, offers the delete page
    assert target_page.select_one(f"a[href='/targets/{target_id}/delete']") is not None
    assert target_page.select_one(f"a[href='/scans/{done}']") is not None
    scan_page = analyst.page(f"/scans/{done}")
    assert scan_page.select_one(f"a[href='/scans/{done}/delete']") is not None
    confirm = analyst.page(f"/scans/{done}/delete")
    assert confirm.h1.get_text(strip=True) == f"Delete Scan #{done}: completed scan?"
    assert "3 finding(s)" in confirm.select_one("[data-removal]").get_text(" ", strip=True)
    assert analyst.page(f"/scans/{done}").h1 is not None  # looking at the confirmation deleted nothing
    viewer = web.signed_in(UserRole.VIEWER)
    assert viewer.get(f"/scans/{done}/delete").status_code == 403
    assert viewer.page(f"/scans/{done}").select_one(f"a[href='/scans/{done}/delete']") is None

    deleted = analyst.post(f"/scans/{done}/delete")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/scans"
    assert analyst.get(f"/scans/{done}").status_code == 404

    busy = analyst.page(f"/scans/{running}/delete")
    assert "cancel it first" in busy.select_one(".alert").get_text()
    assert busy.select_one("button.danger").has_attr("disabled")
    refused = analyst.post(f"/scans/{running}/delete")
    assert refused.status_code == 409 and "cancel it" in refused.text

    target_confirm = analyst.page(f"/targets/{target_id}/delete")
    assert "1 scan(s)" in target_confirm.select_one("[data-removal]").get_text(" ", strip=True)
    assert analyst.post(f"/targets/{target_id}/delete").status_code == 409  # its scan is still running
    with Session(make_engine(web.url)) as session:
        session.get_one(Scan, running).status = ScanStatus.CANCELLED
        session.commit()
    gone = analyst.post(f"/targets/{target_id}/delete")
    assert gone.status_code == 303 and gone.headers["location"] == "/targets"
    with Session(make_engine(web.url)) as session:
        assert session.get(Target, target_id) is None

    auditor = web.signed_in(UserRole.AUDITOR)
    # the filter form as a browser sends it: every field, the blank ones empty
    listed = auditor.page("/audit?actor=analyst&action=&since=&until=")
    actions = [row.select("td")[2].get_text(strip=True) for row in listed.select("tbody tr")]
    assert actions[:2] == ["target_delete", "scan_delete"] and set(actions) <= {
        "target_delete",
        "scan_delete",
        "target_create",
        "login_success",
    }
    only = auditor.page("/audit?actor=&action=scan_delete&since=&until=")
    assert [row.select("td")[2].get_text(strip=True) for row in only.select("tbody tr")] == ["scan_delete"]
    assert only.select_one("select#action option[selected]")["value"] == "scan_delete"
    export_link = only.select_one("a[href^='/audit?'][href*='export=csv']")["href"]
    exported = auditor.get(export_link)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(row["action"], row["resource_id"], row["username"]) for row in rows] == [
        ("scan_delete", str(done), "analyst")
    ]
    assert auditor.get("/audit?export=xlsx").status_code == 422
    bad = auditor.get("/audit?since=31.12.2026")
    assert bad.status_code == 422 and "From must be a date" in bad.text
    nothing = auditor.page("/audit?action=scan_delete&since=2000-01-01&until=2000-01-02")
    assert "No record matches these filters." in nothing.get_text()


def test_tokens_default_to_the_least_role_and_revoke_and_disable_ask_first(web: Web) -> None:
    admin = web.signed_in(UserRole.ADMIN)
    form = admin.page("/tokens")
    options = form.select("select#role option")
    assert [o["value"] for o in options] == ["viewer", "auditor", "analyst", "admin"]
    assert [o["value"] for o in options if o.has_attr("selected")] == ["viewer"]
    created = soup(admin.post("/tokens", {"name": "ci", "role": "viewer", "expires_in_days": "30"}))
    button = created.select_one("button[data-copy]")
    assert button is not None and button["type"] == "button"
    assert created.select_one(button["data-copy"]).get_text(strip=True).startswith("sai_")
    revoke = admin.page("/tokens").select_one("form[action$='/revoke']")
    assert "Revoke the token ci?" in revoke["data-confirm"]
    users = admin.page("/users")
    disable = [f for f in users.select("form[data-confirm]") if f.select_one("input[name=active][value=false]")]
    assert disable and all("signed out at once" in f["data-confirm"] for f in disable)
    assert "Revoke admin's token ci?" in users.select_one("form[action^='/users/tokens/']")["data-confirm"]
