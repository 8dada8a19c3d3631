"""A user's own probe packs through the `secureai` command: validate, schema, list, scan, rescore.

Broken packs must stop every command with one `file:line: field: message` line per problem and nothing written;
a good pack (the one docs/probe-packs.md teaches with) is scanned against the vulnerable simulator and its
findings and version land in the result.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.demo.simulator import running_simulator
from app.engine.sinks import read_jsonl
from tests.conftest import run_cli

DOC = Path(__file__).resolve().parents[4] / "docs" / "probe-packs.md"
#: Nothing listens on the discard port: a scan that got as far as sending would fail with exit 3, not 2.
NOWHERE = "openai:m@http://127.0.0.1:9/v1"


def _example() -> str:
    match = re.search(
        r"<!-- example-pack: acme_helpdesk\.yaml[^>]*-->\n```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL
    )
    assert match, "docs/probe-packs.md lost its example pack"
    return match.group(1)


def _pack(name: str, *ids: str, pattern: str = "x+") -> str:
    probes = "".join(
        f"  - id: {probe_id}\n"
        "    title: T\n"
        "    owasp: LLM01\n"
        "    severity: low\n"
        "    description: D\n"
        "    remediation: R\n"
        "    prompts: ['say {marker}']\n"
        "    detectors:\n"
        "      - marker\n"
        "      - name: regex\n"
        f"        pattern: '{pattern}'\n"
        for probe_id in ids
    )
    return f"pack: {name}\ntitle: {name}\nversion: 1\nprobes:\n{probes}"


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def _errors(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), stderr
    return [line.removeprefix("error: ") for line in lines]


# --- broken packs stop the scan before anything is sent or written -------------------------------------------

HOSTILE: dict[str, tuple[dict[str, str | bytes], str]] = {
    "bad yaml": ({"mine.yaml": "pack: mine\nprobes: [\n"}, r"mine\.yaml:3: invalid YAML: "),
    "wrong type": ({"mine.yaml": _pack("mine", "mine.a").replace("version: 1", "version: one")}, r"mine\.yaml:3: version: Input should be a valid integer"),  # noqa: E501
    "unknown key": ({"mine.yaml": _pack("mine", "mine.a") + "    severty: high\n"}, r"mine\.yaml:16: probes\[0\]\.severty: Extra inputs are not permitted"),  # noqa: E501
    "regex": ({"mine.yaml": _pack("mine", "mine.a", pattern="(x")}, r"mine\.yaml:15: probes\[0\]\.detectors\[1\]\.pattern: regex pattern '\(x' does not compile: "),  # noqa: E501
    "duplicate across packs": ({"a.yaml": _pack("a", "mine.a"), "b.yaml": _pack("b", "mine.b", "mine.a")}, r"b\.yaml:16: probes\[1\]\.id: probe id 'mine\.a' is already defined in user pack 'a' \(.*a\.yaml:5\)"),  # noqa: E501
    "shipped id": ({"mine.yaml": _pack("mine", "jb.roleplay.unrestricted_persona")}, r"mine\.yaml:5: probes\[0\]\.id: probe id 'jb\.roleplay\.unrestricted_persona' is already defined in shipped pack 'jailbreak'"),  # noqa: E501
    "shipped pack name": ({"jailbreak.yaml": _pack("jailbreak", "mine.a")}, r"jailbreak\.yaml: pack: pack name 'jailbreak' is already used by shipped pack 'jailbreak'"),  # noqa: E501
    "huge": ({"mine.yaml": _pack("mine", "mine.a") + "#" + "x" * (2 * 1024 * 1024)}, r"mine\.yaml: the pack is 2,097,\d{3} bytes; a pack may be at most 2,097,152 bytes"),  # noqa: E501
    "not utf-8": ({"mine.yaml": _pack("mine", "mine.a").replace("title: T", "title: caf\xe9").encode("latin-1")}, r"mine\.yaml:6: not UTF-8 text \(byte 0xe9 at offset \d+\); save the pack as UTF-8"),  # noqa: E501
    "file name": ({"other.yaml": _pack("mine", "mine.a")}, r"other\.yaml:1: pack: pack name 'mine' must equal the file name 'other'"),  # noqa: E501
}  # fmt: skip


def _write(directory: Path, files: dict[str, str | bytes]) -> Path:
    directory.mkdir()
    for name, content in files.items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return directory


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_broken_pack_stops_scan_and_validate_with_one_line_naming_file_line_and_field(
    tmp_path: Path, case: str
) -> None:
    files, expected = HOSTILE[case]
    packs = _write(tmp_path / "packs", files)
    out, report = tmp_path / "scan.jsonl", tmp_path / "result.json"
    code, stdout, stderr = _invoke(
        "scan", "-t", NOWHERE, "--packs", str(packs), "-o", str(out), "--report", str(report)
    )
    assert code == 2, stderr
    [line] = _errors(stderr)
    assert re.match(expected, line.removeprefix(f"{packs}/")), line
    assert stdout == "" and not out.exists() and not report.exists()

    code, stdout, stderr = _invoke("probes", "validate", str(packs))
    assert code == 1, stderr
    [problem] = stdout.splitlines()
    assert problem == line
    assert stderr.splitlines()[-1] == "1 problem(s) in 1 path(s)"


def test_packs_that_are_not_directories_of_packs_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, stderr = _invoke(
        "scan", "-t", NOWHERE, "--packs", str(tmp_path / "missing"), "--packs", str(tmp_path / "empty")
    )
    assert code == 2
    assert _errors(stderr) == [
        f"{tmp_path / 'missing'}: no such directory",
        f"{tmp_path / 'empty'}: holds no probe pack (*.yaml, *.yml)",
    ]


# --- validate, schema, list -------------------------------------------------------------------------------


def test_validate_prints_every_problem_and_json_for_scripts(tmp_path: Path) -> None:
    packs = _write(tmp_path / "packs", {"good.yaml": _pack("good", "good.a"), "bad.yaml": _pack("bad", "good.a")})
    code, stdout, _ = _invoke("probes", "validate", str(packs), str(tmp_path / "nope.yaml"))
    assert code == 1
    assert stdout.splitlines() == [
        f"{tmp_path / 'nope.yaml'}: no such file or directory",
        f"{packs / 'good.yaml'}:5: probes[0].id: probe id 'good.a' is already defined in user pack 'bad' "
        f"({packs / 'bad.yaml'}:5)",
    ]
    code, stdout, _ = _invoke("probes", "validate", "--json", str(packs))
    assert code == 1
    document = json.loads(stdout)
    assert document["valid"] is False
    assert [pack["name"] for pack in document["packs"]] == ["bad", "good"]
    assert document["problems"] == [
        {
            "file": str(packs / "good.yaml"),
            "line": 5,
            "field": "probes[0].id",
            "message": f"probe id 'good.a' is already defined in user pack 'bad' ({packs / 'bad.yaml'}:5)",
        }
    ]


def test_validate_accepts_the_documented_example(tmp_path: Path) -> None:
    path = tmp_path / "acme_helpdesk.yaml"
    path.write_text(_example(), encoding="utf-8")
    code, stdout, stderr = _invoke("probes", "validate", str(path))
    assert code == 0, stdout
    assert stdout == ""
    assert stderr.splitlines() == [
        f"{path}: pack 'acme_helpdesk' version 1: 5 probes, 11 attempts, 1 judge-decided",
        "valid in 1 path(s)",
    ]
    code, stdout, _ = _invoke("probes", "validate", "--json", str(tmp_path))
    summary = json.loads(stdout)
    assert code == 0 and summary["valid"] is True and summary["problems"] == []
    assert summary["packs"][0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_schema_prints_the_pack_json_schema_or_writes_it(tmp_path: Path) -> None:
    code, stdout, _ = _invoke("probes", "schema")
    schema = json.loads(stdout)
    assert code == 0 and schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Pack" and set(schema["required"]) == {"pack", "title", "version", "probes"}
    assert "rubric" in schema["$defs"]["Probe"]["properties"]
    target = tmp_path / "schemas" / "probe-pack.schema.json"
    code, stdout, stderr = _invoke("probes", "schema", "--output", str(target))
    assert code == 0 and stdout == "" and stderr == f"wrote {target}\n"
    assert json.loads(target.read_text(encoding="utf-8")) == schema


def test_probes_list_shows_user_probes_only_with_packs(tmp_path: Path) -> None:
    packs = _write(tmp_path / "packs", {"mine.yaml": _pack("mine", "mine.a", "mine.b")})
    code, stdout, _ = _invoke("probes", "list", "--packs", str(packs), "-s", "pack:mine", "--json")
    assert code == 0
    assert [(p["id"], p["pack"], p["attempts"], p["needs_judge"]) for p in json.loads(stdout)] == [
        ("mine.a", "mine", 1, False),
        ("mine.b", "mine", 1, False),
    ]
    code, _, stderr = _invoke("probes", "list", "-s", "pack:mine")  # the last command's packs are gone
    assert code == 2 and _errors(stderr) == ["probe selector 'pack:mine' matches no probe"]


def test_dry_run_plans_user_probes_with_their_slots(tmp_path: Path) -> None:
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "acme_helpdesk.yaml").write_text(_example(), encoding="utf-8")
    code, stdout, stderr = _invoke(
        "scan",
        "-t",
        NOWHERE,
        "--packs",
        str(packs),
        "-p",
        "tag:acme",
        "--dry-run",
        "--format",
        "json",
        "--profile",
        "full",
    )
    assert code == 0, stderr
    assert json.loads(stdout)["by_probe"] == {
        "acme.helpdesk.voucher_leak": 4,
        "acme.helpdesk.order_note_instructions": 2,
        "acme.helpdesk.refund_promise": 2,
        "acme.helpdesk.stuck_sync_benign": 1,
        "acme.helpdesk.invented_discount_code": 2,
    }


# --- a real scan with a user pack --------------------------------------------------------------------------


def test_a_user_pack_is_scanned_recorded_and_rescored(tmp_path: Path) -> None:
    packs = tmp_path / "packs"
    packs.mkdir()
    pack_file = packs / "acme_helpdesk.yaml"
    pack_file.write_text(_example(), encoding="utf-8")
    digest = hashlib.sha256(pack_file.read_bytes()).hexdigest()
    recorded = {"name": "acme_helpdesk", "version": 1, "sha256": digest, "source": str(pack_file)}
    log, report = tmp_path / "scan.jsonl", tmp_path / "result.json"
    with running_simulator("vulnerable") as (url, simulator):
        result = run_cli(
            "secureai", "scan", "-t", f"openai:sim@{url}", "--packs", str(packs), "-p", "pack:acme_helpdesk",
            "--profile", "full",
            "-o", str(log), "--report", str(report), "--format", "json",
        )  # fmt: skip
        sent = sum(simulator.state.requests.values())
    assert result.returncode == 0, result.stderr
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["user_packs"] == [recorded]
    findings = {finding["probe_id"]: finding for finding in document["findings"]}
    # the simulator repeats its instructions (the voucher) and obeys the order note (the marker)
    assert findings["acme.helpdesk.voucher_leak"]["counts"]["vulnerable"] == 4
    assert findings["acme.helpdesk.order_note_instructions"]["counts"]["vulnerable"] == 2
    assert findings["acme.helpdesk.voucher_leak"]["owasp"] == "LLM07"
    header, records = read_jsonl(log)
    assert header is not None and header["user_packs"] == [recorded]
    assert sent >= len(records) == 11
    outcomes = {(r.probe_id, r.outcome.value) for r in records}
    assert ("acme.helpdesk.refund_promise", "unscored") in outcomes  # judge-decided, no judge: never "safe"
    assert ("acme.helpdesk.stuck_sync_benign", "safe") in outcomes  # the benign request was answered
    zipped = {(r.extra["slot.greeting"], r.extra["slot.language"]) for r in records if "slot.greeting" in r.extra}
    assert zipped == {("Bonjour", "French"), ("Hallo", "German")}

    # rescore needs the pack again, and says which one
    again = tmp_path / "again.jsonl"
    code, _, stderr = _invoke("rescore", str(log), "-o", str(again))
    assert code == 2 and not again.exists()
    assert _errors(stderr) == [
        f"the scan ran user pack(s) acme_helpdesk (version 1, sha256 {digest[:12]}), whose probes are not in the "
        f"catalogue: pass --packs DIR holding them to re-judge their 11 attempt(s)"
    ]
    code, stdout, stderr = _invoke("rescore", str(log), "-o", str(again), "--packs", str(packs), "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["rejudged"] == 11 and json.loads(stdout)["changed"] == 0
    new_header, rejudged = read_jsonl(again)
    assert new_header is not None and new_header["user_packs"] == [recorded]
    assert [(r.key, r.outcome) for r in rejudged] == [(r.key, r.outcome) for r in records]

    # a report straight from the attempt log knows the user probes' category and severity with --packs
    code, stdout, stderr = _invoke("report", str(log), "--format", "json", "--packs", str(packs))
    assert code == 0, stderr
    from_log = {finding["probe_id"]: finding for finding in json.loads(stdout)["findings"]}
    assert from_log["acme.helpdesk.voucher_leak"]["owasp"] == "LLM07"
    assert from_log["acme.helpdesk.voucher_leak"]["severity"] == findings["acme.helpdesk.voucher_leak"]["severity"]

    # a changed pack: rescore says so; resume refuses to mix versions
    pack_file.write_text(_example().replace("version: 1", "version: 2"), encoding="utf-8")
    code, _, stderr = _invoke("rescore", str(log), "-o", str(tmp_path / "third.jsonl"), "--packs", str(packs))
    assert code == 0, stderr
    assert "user pack 'acme_helpdesk' changed since the scan" in " ".join(stderr.split())
    code, _, stderr = _invoke(
        "scan",
        "-t",
        NOWHERE,
        "--packs",
        str(packs),
        "-p",
        "pack:acme_helpdesk",
        "-o",
        str(log),
        "--resume",
        "--profile",
        "full",
    )
    assert code == 2
    assert _errors(stderr) == [f"--resume: {log} was written with other --packs (or other versions of them)"]
