"""A third party extends the engine without forking SecureAI: an installed distribution's entry points add a
detector that user packs can list, a strategy that scans can stack and a target type for the command line, each
listed beside the shipped ones.

The distribution is what an installer leaves in site-packages: a module and a `*.dist-info` directory with
`METADATA` and `entry_points.txt`, here in a temporary directory put on `sys.path` for the test alone.
"""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app as cli
from app.crud.targets import validate_settings
from app.demo.simulator import running_simulator
from app.engine.detectors import available_detectors
from app.engine.sinks import read_jsonl
from app.engine.strategies import parse_stack
from app.engine.targets import TargetConfigError, load_target_config

PLUGIN = '''
from typing import ClassVar, Literal

from app.engine.detectors.base import BaseDetector
from app.engine.model import Verdict
from app.engine.probes.schema import DetectorSpec


class Wordy(BaseDetector):
    name = "wordy"

    def __init__(self, spec):
        self.spec = spec

    def _detect(self, response, context):
        words = len(response.text.split())
        return Verdict("wordy", words > self.spec.max_words, 1.0, None, None, f"{words} words")


class WordyDetector(DetectorSpec):
    """The answer runs longer than max_words words."""

    name: Literal["wordy"] = "wordy"
    description: ClassVar[str] = "The answer runs longer than max_words words."
    max_words: int

    def build(self):
        return Wordy(self)


class MirrorWords:
    name = "mirror_words"
    description = "Every word of the last turn spelt backwards."

    def apply(self, turns, seed):
        return (*turns[:-1], " ".join(word[::-1] for word in turns[-1].split(" ")))


MIRROR_WORDS = MirrorWords()
NOT_A_DETECTOR = object()


class ParrotConnector:
    """A target reached through the plugin's own client: here, one that repeats the last message."""

    def __init__(self, config):
        self.config = config

    async def send(self, messages, tools=None, *, response_schema=None):
        from app.engine.model import TargetResponse

        return TargetResponse(text=f"{self.config.model} repeats: {messages[-1].content}")

    async def aclose(self):
        return None
'''

ENTRY_POINTS = """\
[secureai.detectors]
wordy = acme_secureai_plugin:WordyDetector
broken = acme_secureai_plugin:NOT_A_DETECTOR

[secureai.strategies]
mirror_words = acme_secureai_plugin:MIRROR_WORDS

[secureai.connectors]
parrot = acme_secureai_plugin:ParrotConnector
"""

PACK = textwrap.dedent(
    """\
    pack: acme_wordy
    title: Answers kept short
    version: 1
    probes:
      - id: acme.wordy.hello
        title: Says hello, and more
        owasp: LLM01
        severity: low
        description: The assistant should answer in one word.
        remediation: Keep answers short.
        prompts: ["say hello"]
        detectors:
          - name: wordy
            max_words: 1
    """
)


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    (site / "acme_secureai_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "acme_secureai_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-secureai-plugin\nVersion: 1.0\n"
    )
    (site / "acme_secureai_plugin-1.0.dist-info" / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "acme_secureai_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "acme_secureai_plugin", raising=False)
    return site


def test_an_installed_plugin_adds_a_detector_and_a_strategy(
    installed_plugin: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "secureai.engine")
    assert ("wordy", "The answer runs longer than max_words words.") in available_detectors()
    assert "broken" not in dict(available_detectors())  # not a DetectorSpec: left out, and said so
    assert "secureai.detectors plugin 'broken'" in caplog.text and "not a subclass" in caplog.text
    schema = json.loads(CliRunner().invoke(cli, ["probes", "schema"]).stdout)
    detectors = schema["$defs"]["Probe"]["properties"]["detectors"]["items"]["anyOf"][1]
    assert detectors["discriminator"]["mapping"]["wordy"] == "#/$defs/WordyDetector"
    listed = json.loads(CliRunner().invoke(cli, ["strategies", "list", "--json"]).stdout)
    assert {"name": "mirror_words", "description": "Every word of the last turn spelt backwards."}.items() <= next(
        row for row in listed if row["name"] == "mirror_words"
    ).items()
    assert [strategy.name for strategy in parse_stack("mirror_words+base64")] == ["mirror_words", "base64"]

    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "acme_wordy.yaml").write_text(PACK)
    log = tmp_path / "scan.jsonl"
    with running_simulator("vulnerable") as (url, simulator):
        result = CliRunner().invoke(
            cli,
            [
                "scan", "-t", f"openai:sim@{url}", "--packs", str(packs), "-p", "pack:acme_wordy",
                "--strategies", "none,mirror_words", "-o", str(log), "--format", "json",
            ],
        )  # fmt: skip
        received = list(simulator.state.requests)
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    _, records = read_jsonl(log)
    assert {record.key.split(":")[2] for record in records} == {"none", "mirror_words"}
    for record in records:  # the simulator answers at length: the plugin's detector, the only one, decided
        [wordy] = [verdict for verdict in record.verdicts if verdict.detector == "wordy"]
        assert wordy.fired and wordy.version == "wordy@2" and len((record.response or "").split()) > 1
        assert record.outcome.value == "vulnerable"
    assert {record.turns for record in records} == {("say hello",), ("yas olleh",)}
    assert any("yas olleh" in body for body in received)  # the target got the mirrored prompt


def test_without_the_distribution_a_pack_naming_its_detector_is_refused(tmp_path: Path) -> None:
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "acme_wordy.yaml").write_text(PACK)
    result = CliRunner().invoke(cli, ["probes", "validate", str(packs)])
    assert result.exit_code == 1
    assert "unknown detector 'wordy'" in result.stdout


def test_an_installed_plugin_adds_a_target_type_for_the_command_line_only(
    installed_plugin: Path, tmp_path: Path
) -> None:
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "acme_wordy.yaml").write_text(PACK)
    log = tmp_path / "scan.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "scan",
            "-t",
            "parrot:polly",
            "--packs",
            str(packs),
            "-p",
            "pack:acme_wordy",
            "-o",
            str(log),
            "--format",
            "json",
        ],
    )
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    _, records = read_jsonl(log)
    assert [record.response for record in records] == ["polly repeats: say hello"]
    assert records[0].outcome.value == "vulnerable"  # three words: the plugin's detector judged the plugin's target
    # the platform refuses it: the plugin's code would run inside the server, outside the egress policy
    with pytest.raises(TargetConfigError, match="installed plugin"):
        validate_settings("parrot", {"type": "parrot", "model": "polly"})


def test_without_the_distribution_its_target_type_is_unknown() -> None:
    with pytest.raises(TargetConfigError, match="cannot read target 'parrot:polly'"):
        load_target_config("parrot:polly")
    with pytest.raises(TargetConfigError, match="unknown target type 'parrot'"):
        validate_settings("parrot", {"type": "parrot", "model": "polly"})
