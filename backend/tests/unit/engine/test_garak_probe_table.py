"""The garak probe table (app.engine.imports.garak_probes): closed, well-formed, and what docs/imports.md shows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from app.engine.imports.garak_probes import GARAK_PROBES, garak_mapping, garak_probe_infos
from app.engine.probes.schema import OwaspId, Severity

DOCS = Path(__file__).resolve().parents[4] / "docs" / "imports.md"
_KEY = re.compile(r"^[a-z0-9_]+(\.[A-Za-z0-9_]+)?$")
_ROW = re.compile(r"^\| `([^`]+)` \| (LLM\d\d) \| (\w+) \| (.+) \|$")

#: The modules garak's releases ship and the issue names: each must have a row (restated, not imported).
EXPECTED_MODULES = {
    "dan": ("LLM01", "high"),
    "encoding": ("LLM01", "high"),
    "promptinject": ("LLM01", "high"),
    "latentinjection": ("LLM01", "high"),
    "leakreplay": ("LLM02", "medium"),
    "xss": ("LLM05", "high"),
    "malwaregen": ("LLM01", "high"),
    "packagehallucination": ("LLM09", "high"),
    "continuation": ("LLM01", "medium"),
    "lmrc": ("LLM01", "medium"),
    "realtoxicityprompts": ("LLM01", "medium"),
    "snowball": ("LLM09", "low"),
    "goodside": ("LLM01", "medium"),
    "glitch": ("LLM09", "low"),
    "grandma": ("LLM01", "high"),
    "suffix": ("LLM01", "high"),
    "tap": ("LLM01", "high"),
    "visual_jailbreak": ("LLM01", "high"),
    "atkgen": ("LLM01", "medium"),
    "av_spam_scanning": ("LLM05", "medium"),
    "donotanswer": ("LLM01", "medium"),
    "divergence": ("LLM02", "medium"),
    "exploitation": ("LLM05", "high"),
    "web_injection": ("LLM05", "high"),
    "misleading": ("LLM09", "medium"),
    "topic": ("LLM01", "low"),
    "ansiescape": ("LLM05", "medium"),
    "phrasing": ("LLM01", "high"),
    "sata": ("LLM01", "high"),
    "badchars": ("LLM01", "medium"),
    "fitd": ("LLM01", "high"),
    "doctor": ("LLM01", "high"),
    "sysprompt_extraction": ("LLM07", "high"),
    "apikey": ("LLM02", "high"),
    "fileformats": ("LLM03", "high"),
    "smuggling": ("LLM01", "high"),
}


def test_every_row_is_well_formed() -> None:
    owasp_ids, severities = set(get_args(OwaspId)), set(get_args(Severity))
    for key, row in GARAK_PROBES.items():
        assert _KEY.match(key), key
        assert row.owasp in owasp_ids and row.severity in severities, key
        assert row.severity != "info", f"{key}: a mapped probe gets a real severity; unmapped ones are info"
        assert row.why and row.why == row.why.strip(), key
        module, _, cls = key.partition(".")
        if cls:  # a class row refines a module the table knows
            assert module in GARAK_PROBES, key


def test_the_named_modules_are_mapped_as_documented() -> None:
    assert {key: (GARAK_PROBES[key].owasp, GARAK_PROBES[key].severity) for key in EXPECTED_MODULES} == (
        EXPECTED_MODULES
    )


def test_lookup_class_before_module_and_unknown_is_unmapped() -> None:
    for name in ("dan.Dan_11_0", "garak.dan.Dan_11_0", "probes.dan.Dan_11_0"):
        row = garak_mapping(name)
        assert row is not None and (row.owasp, row.severity) == ("LLM01", "high")
    riley = garak_mapping("garak.goodside.WhoIsRiley")
    assert riley is not None and riley.owasp == "LLM09"
    assert garak_mapping("garak.goodside.Tag") == GARAK_PROBES["goodside"]
    assert garak_mapping("garak.test.Blank") is None  # garak's plumbing: deliberately unmapped
    assert garak_mapping("garak.brandnew.Probe") is None

    infos, unmapped = garak_probe_infos(
        ["garak.dan.Dan_11_0", "garak.brandnew.Probe", "pi.direct.x", "garak.dan.Dan_11_0"]
    )
    assert set(infos) == {"garak.dan.Dan_11_0"} and unmapped == ["garak.brandnew.Probe"]
    assert (infos["garak.dan.Dan_11_0"].owasp, infos["garak.dan.Dan_11_0"].severity) == ("LLM01", "high")


def test_docs_table_is_the_mapping() -> None:
    rows = [_ROW.match(line) for line in DOCS.read_text(encoding="utf-8").splitlines()]
    documented = {m[1]: (m[2], m[3], m[4]) for m in rows if m}
    assert documented == {key: (row.owasp, row.severity, row.why) for key, row in GARAK_PROBES.items()}
