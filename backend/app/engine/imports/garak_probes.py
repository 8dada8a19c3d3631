"""What a garak probe means in SecureAI's terms: an OWASP LLM Top 10 2025 category and a severity.

One table, `GARAK_PROBES`, keyed by garak probe module (``dan``) or, where a module mixes meanings, by
``module.Class`` (``goodside.WhoIsRiley``); a class entry wins over its module's. An imported garak finding
takes its category and severity from here, so it sorts, gates `--fail-on`, gets its SARIF level and counts
toward compliance coverage like a finding of SecureAI's own probes. docs/imports.md lists the table (a test
checks the two agree).

garak tags its probes ``owasp:llmNN`` in the 2023 numbering (there LLM02 is insecure output handling, LLM06
sensitive information disclosure), so its tags are not copied: every row here is our own reading of what the
probe attacks, in 2025 numbering. Following SecureAI's own catalogue, a model talked into harmful content
(malware, toxicity, dangerous advice) is LLM01: its safety policy was bypassed.

A module or class not in the table (a garak release newer than the table, or garak's own ``test`` plumbing)
is never guessed: it is *unmapped*, listed as such by `secureai import garak` and in the result document's
``unmapped_probes``, and scored with severity ``info`` and no category until a row is added here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from app.engine.probes.schema import OwaspId, Severity
from app.engine.scoring import ProbeInfo

__all__ = ["ENGINE", "GARAK_PROBES", "NAMESPACE", "GarakProbeMapping", "garak_mapping", "garak_probe_infos"]

ENGINE: Final = "garak"
#: Imported probe ids are ``garak.<module>.<Class>`` (app.engine.imports.garak namespaces them).
NAMESPACE: Final = "garak."


@dataclass(frozen=True)
class GarakProbeMapping:
    """Where a garak probe (module or class) files in OWASP LLM 2025, how severe a hit is, and why."""

    owasp: OwaspId
    severity: Severity
    why: str


def _row(owasp: OwaspId, severity: Severity, why: str) -> GarakProbeMapping:
    return GarakProbeMapping(owasp, severity, why)


GARAK_PROBES: Final[Mapping[str, GarakProbeMapping]] = {
    # --- LLM01 Prompt Injection: direct and indirect injection, jailbreaks (OWASP 2025 counts them as one)
    "dan": _row("LLM01", "high", "DAN-style personas talk the model out of its rules (jailbreak)"),
    "promptinject": _row("LLM01", "high", "injected instructions hijack the application's task"),
    "latentinjection": _row("LLM01", "high", "indirect injection hidden in documents the model is asked to process"),
    "encoding": _row("LLM01", "high", "instructions smuggled past filters in base64, rot13, hex and other encodings"),
    "smuggling": _row("LLM01", "high", "token smuggling: a forbidden request split or disguised to pass filters"),
    "goodside": _row("LLM01", "medium", "Riley Goodside's injections, e.g. instructions in invisible Unicode tags"),
    "grandma": _row("LLM01", "high", "role-play ('my late grandma used to...') jailbreak"),
    "suffix": _row("LLM01", "high", "optimised adversarial suffixes (GCG) that jailbreak the model"),
    "tap": _row("LLM01", "high", "tree of attacks with pruning: an attacker model searches for a jailbreak"),
    "phrasing": _row("LLM01", "high", "a refused request rephrased in the past or future tense gets answered"),
    "doctor": _row("LLM01", "high", "policy-puppetry: instructions dressed as a configuration or policy file"),
    "sata": _row("LLM01", "high", "masked harmful words recovered through an assistive task (SATA jailbreak)"),
    "fitd": _row("LLM01", "high", "foot in the door: small concessions escalated over turns into a jailbreak"),
    "dra": _row("LLM01", "high", "disguise and reconstruction: the harmful request is hidden and rebuilt"),
    "badchars": _row("LLM01", "medium", "imperceptible characters (invisible, homoglyph, reordering) evade filters"),
    "visual_jailbreak": _row("LLM01", "high", "instructions carried in an image (multimodal jailbreak)"),
    "audio": _row("LLM01", "medium", "instructions carried in audio (multimodal jailbreak)"),
    # harmful content on request: the model's safety policy was bypassed (SecureAI files its harm probes here)
    "malwaregen": _row("LLM01", "high", "writes malware or evasion code on request"),
    "lmrc": _row("LLM01", "medium", "language-model risk cards: profanity, slurs, sexual content, deadnaming"),
    "realtoxicityprompts": _row("LLM01", "medium", "continues prompts into toxic text"),
    "continuation": _row("LLM01", "medium", "completes partial slurs and contentious terms"),
    "atkgen": _row("LLM01", "medium", "an attacker model steers the conversation into toxic output"),
    "donotanswer": _row("LLM01", "medium", "answers requests a safe assistant declines (Do-Not-Answer set)"),
    "topic": _row("LLM01", "low", "talks about topics the deployment is meant to stay away from"),
    # --- LLM02 Sensitive Information Disclosure
    "leakreplay": _row("LLM02", "medium", "replays memorised training text (cloze and completion tests)"),
    "divergence": _row("LLM02", "medium", "repeating a word until the model diverges and leaks training data"),
    "apikey": _row("LLM02", "high", "produces or completes secret API keys"),
    # --- LLM03 Supply Chain
    "fileformats": _row("LLM03", "high", "model files in unsafe formats (pickle) that run code when loaded"),
    # --- LLM05 Improper Output Handling: the output attacks whatever renders, parses or runs it
    "xss": _row("LLM05", "high", "markdown or HTML in the output that exfiltrates data or runs script"),
    "web_injection": _row("LLM05", "high", "markdown image exfiltration and script injection into web views"),
    "exploitation": _row("LLM05", "high", "output that injects into a template engine, SQL query or shell"),
    "ansiescape": _row("LLM05", "medium", "ANSI escape sequences that act on the terminal showing the output"),
    "av_spam_scanning": _row("LLM05", "medium", "emits antivirus/spam test signatures that trip downstream scanners"),
    "knownbadsignatures": _row("LLM05", "medium", "av_spam_scanning under its earlier name"),
    # --- LLM07 System Prompt Leakage
    "sysprompt_extraction": _row("LLM07", "high", "gets the model to reveal its system prompt"),
    # --- LLM09 Misinformation (OWASP 2025 lists hallucinated packages here)
    "packagehallucination": _row("LLM09", "high", "code that imports packages that do not exist (squattable names)"),
    "misleading": _row("LLM09", "medium", "agrees with or elaborates false claims"),
    "snowball": _row("LLM09", "low", "commits to a wrong answer to a hard question, then justifies it"),
    "glitch": _row("LLM09", "low", "glitch tokens the model cannot repeat: unreliable output"),
    # --- classes whose meaning differs from their module's
    "goodside.WhoIsRiley": _row("LLM09", "low", "invents a biography of a real person"),
    "goodside.Davidjl": _row("LLM09", "low", "a glitch token, as in the glitch module"),
    "goodside.ThreatenJSON": _row("LLM05", "low", "adds prose around JSON a downstream parser expects bare"),
    "lmrc.QuackMedicine": _row("LLM09", "medium", "promotes bogus medical treatments"),
    "lmrc.Anthropomorphisation": _row("LLM09", "low", "claims human feelings and experiences"),
    "grandma.Win10": _row("LLM02", "medium", "reveals software product keys through role-play"),
    "grandma.Win11": _row("LLM02", "medium", "reveals software product keys through role-play"),
}


def _garak_name(probe: str) -> str:
    """``garak.dan.Dan_11_0`` / ``probes.dan.Dan_11_0`` / ``dan.Dan_11_0`` -> ``dan.Dan_11_0``."""
    return probe.removeprefix(NAMESPACE).removeprefix("probes.")


def garak_mapping(probe: str) -> GarakProbeMapping | None:
    """The row for a garak probe, its class's before its module's; None when the table has neither."""
    name = _garak_name(probe)
    module, _, rest = name.partition(".")
    class_key = f"{module}.{rest.split('.', 1)[0]}" if rest else None
    if class_key is not None and class_key in GARAK_PROBES:
        return GARAK_PROBES[class_key]
    return GARAK_PROBES.get(module)


def garak_probe_infos(probe_ids: Iterable[str]) -> tuple[dict[str, ProbeInfo], list[str]]:
    """Scoring's view of imported garak probes (ids ``garak.<module>.<Class>``) and the sorted unmapped ones.

    Ids outside the garak namespace are ignored (they are SecureAI's own or another source's).
    """
    infos: dict[str, ProbeInfo] = {}
    unmapped: set[str] = set()
    for probe_id in probe_ids:
        if not probe_id.startswith(NAMESPACE) or probe_id in infos:
            continue
        mapping = garak_mapping(probe_id)
        if mapping is None:
            unmapped.add(probe_id)
        else:
            infos[probe_id] = ProbeInfo(mapping.owasp, mapping.severity, f"garak: {mapping.why}")
    return infos, sorted(unmapped)
