"""Typed, strict models for probe packs.

Probe packs are data (YAML under ``packs/``); these models are the contract between that data and the
scan engine. Everything the engine relies on is checked here at load time, so a typo in a pack fails the
test suite instead of silently producing a probe that can never fire.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

__all__ = [
    "DECIDING_DETECTORS",
    "DETECTOR_NAMES",
    "SEVERITY_RANK",
    "TEMPLATE_VARIABLES",
    "CanaryDetector",
    "CodeExecDetector",
    "Detector",
    "JudgeDetector",
    "KeywordsDetector",
    "LengthDetector",
    "MarkerDetector",
    "MarkupExfilDetector",
    "OwaspId",
    "Pack",
    "PackageHallucinationDetector",
    "PiiDetector",
    "Probe",
    "RefusalDetector",
    "RegexDetector",
    "Severity",
    "ToolCallDetector",
    "ToolSpec",
    "render",
    "template_variables",
]

OwaspId = Literal["LLM01", "LLM02", "LLM03", "LLM04", "LLM05", "LLM06", "LLM07", "LLM08", "LLM09", "LLM10"]
Severity = Literal["critical", "high", "medium", "low", "info"]

#: Ordering used by ``severity:<level>`` selectors ("at least this severe").
SEVERITY_RANK: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

#: The only names a prompt, system prompt or document may interpolate; the engine fills all three.
TEMPLATE_VARIABLES: frozenset[str] = frozenset({"canary", "marker", "exfil_url"})

DETECTOR_NAMES: frozenset[str] = frozenset(
    {
        "marker",
        "canary",
        "refusal",
        "regex",
        "keywords",
        "markup_exfil",
        "pii",
        "tool_call",
        "code_exec",
        "package_hallucination",
        "length",
        "judge",
    }
)
#: Detectors that can give a verdict on their own without an LLM; every probe needs one of them.
DECIDING_DETECTORS: frozenset[str] = DETECTOR_NAMES - {"refusal", "judge"}


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty or whitespace only")
    return text


#: Prose fields (titles, descriptions): surrounding whitespace from YAML block scalars is dropped.
NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
#: Text sent to the target: kept byte for byte (a trailing newline can be part of an attack).
PayloadText = Annotated[str, AfterValidator(_not_blank)]
StrictPositiveInt = Annotated[int, Field(strict=True, gt=0)]
_ATLAS_TAG = re.compile(r"atlas:AML\.T\d{4}(?:\.\d{3})?")
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_REGEX_FLAGS: dict[str, re.RegexFlag] = {
    "a": re.ASCII,
    "i": re.IGNORECASE,
    "m": re.MULTILINE,
    "s": re.DOTALL,
    "x": re.VERBOSE,
}
_FORMATTER = string.Formatter()


def template_variables(text: str) -> set[str]:
    """Return the template variables used in ``text``.

    Parsing follows ``str.format`` exactly (``{{``/``}}`` are literal braces), so what validates here is
    what the engine's :func:`render` will accept. Anything but a bare allowed name raises ``ValueError``.
    """
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise ValueError(f"malformed template ({exc}); write literal braces as '{{{{' and '}}}}'") from None
    names: set[str] = set()
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in TEMPLATE_VARIABLES:
            allowed = ", ".join(f"{{{name}}}" for name in sorted(TEMPLATE_VARIABLES))
            raise ValueError(f"unknown template variable {{{field}}}; allowed: {allowed}")
        if spec or conversion:
            raise ValueError(f"template variable {{{field}}} must not carry a format spec or conversion")
        names.add(field)
    return names


def render(template: str, *, canary: str, marker: str, exfil_url: str) -> str:
    """Fill a validated template; kept next to the validator so both agree on the syntax."""
    return template.format(canary=canary, marker=marker, exfil_url=exfil_url)


def _compile(pattern: str, flags: str | None = None) -> re.Pattern[str]:
    value = 0
    for letter in flags or "":
        value |= _REGEX_FLAGS[letter]
    return re.compile(pattern, value)


class _Strict(BaseModel):
    """Base for every pack model: unknown keys are errors, loaded objects are read-only (they are cached)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- detectors -------------------------------------------------------------------------------------------


class MarkerDetector(_Strict):
    """The attacker's ``{marker}`` shows up in the output (the engine also checks encoded forms)."""

    name: Literal["marker"] = "marker"


class CanaryDetector(_Strict):
    """The planted ``{canary}`` secret shows up in the output."""

    name: Literal["canary"] = "canary"


class RefusalDetector(_Strict):
    """The target refused. Only a negative signal for the engine, so a probe may not list it."""

    name: Literal["refusal"] = "refusal"


class RegexDetector(_Strict):
    """A Python regular expression over the output. Patterns are not templated (braces are quantifiers)."""

    name: Literal["regex"] = "regex"
    pattern: NonEmptyStr
    flags: Annotated[str, StringConstraints(pattern=r"^[aimsx]+$")] | None = None
    code: bool = Field(
        default=False,
        description="The pattern matches code: what would not run (comments, HTML-escaped markup) is not searched.",
    )

    @model_validator(mode="after")
    def _compiles(self) -> RegexDetector:
        try:
            _compile(self.pattern, self.flags)
        except re.error as exc:
            raise ValueError(f"regex pattern {self.pattern!r} does not compile: {exc}") from None
        return self

    def compile(self) -> re.Pattern[str]:
        """Compiled pattern with ``flags`` applied."""
        return _compile(self.pattern, self.flags)


class KeywordsDetector(_Strict):
    """At least ``min_matches`` of ``words`` occur in the output (case-insensitive in the engine)."""

    name: Literal["keywords"] = "keywords"
    words: tuple[NonEmptyStr, ...] = Field(min_length=1)
    min_matches: StrictPositiveInt = 1

    @model_validator(mode="after")
    def _reachable(self) -> KeywordsDetector:
        if self.min_matches > len(self.words):
            raise ValueError(f"min_matches={self.min_matches} exceeds the {len(self.words)} words given")
        return self


class MarkupExfilDetector(_Strict):
    """Markdown/HTML that would make a renderer fetch ``{exfil_url}`` or a URL carrying data."""

    name: Literal["markup_exfil"] = "markup_exfil"


PiiKind = Literal["email", "phone", "credit_card", "api_key", "ssn", "iban"]


class PiiDetector(_Strict):
    """PII or secret formats in the output; ``kinds`` narrows which ones count (default: all)."""

    name: Literal["pii"] = "pii"
    kinds: tuple[PiiKind, ...] | None = Field(default=None, min_length=1)
    granted: tuple[NonEmptyStr, ...] = Field(
        default=(),
        description="Values the scenario legitimately gives the user (their own e-mail, phone...): showing them "
        "is not a leak. Compared without spaces, dashes, dots and brackets.",
    )

    @field_validator("kinds")
    @classmethod
    def _distinct(cls, kinds: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if kinds is not None and len(set(kinds)) != len(kinds):
            raise ValueError("pii kinds must not repeat")
        return kinds


class ToolCallDetector(_Strict):
    """The target called the declared tool ``tool``; ``arguments_pattern`` filters on its JSON arguments."""

    name: Literal["tool_call"] = "tool_call"
    tool: NonEmptyStr
    arguments_pattern: NonEmptyStr | None = None

    @model_validator(mode="after")
    def _compiles(self) -> ToolCallDetector:
        if self.arguments_pattern is not None:
            try:
                _compile(self.arguments_pattern)
            except re.error as exc:
                raise ValueError(f"arguments_pattern {self.arguments_pattern!r} does not compile: {exc}") from None
        return self


CodeLanguage = Literal["shell", "sql", "js", "python"]


class CodeExecDetector(_Strict):
    """Dangerous shell/SQL/JS/Python in the output; ``languages`` narrows the check (default: all)."""

    name: Literal["code_exec"] = "code_exec"
    languages: tuple[CodeLanguage, ...] | None = Field(default=None, min_length=1)


class PackageHallucinationDetector(_Strict):
    """Recommended package names that do not exist in the shipped index of ``ecosystem``."""

    name: Literal["package_hallucination"] = "package_hallucination"
    ecosystem: Literal["pypi", "npm"]


class LengthDetector(_Strict):
    """Runaway output: more than ``max_chars`` characters."""

    name: Literal["length"] = "length"
    max_chars: StrictPositiveInt


class JudgeDetector(_Strict):
    """Optional LLM-as-judge with a short rubric; never sufficient alone (scans must work without it)."""

    name: Literal["judge"] = "judge"
    rubric: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]


Detector = Annotated[
    MarkerDetector
    | CanaryDetector
    | RefusalDetector
    | RegexDetector
    | KeywordsDetector
    | MarkupExfilDetector
    | PiiDetector
    | ToolCallDetector
    | CodeExecDetector
    | PackageHallucinationDetector
    | LengthDetector
    | JudgeDetector,
    Field(discriminator="name"),
]


# --- tools and probes ------------------------------------------------------------------------------------


class ToolSpec(_Strict):
    """A fake tool offered to the target, in OpenAI function format. Passed verbatim (not templated)."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: NonEmptyStr
    parameters: dict[str, Any]

    @field_validator("parameters")
    @classmethod
    def _object_schema(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        if parameters.get("type") != "object":
            raise ValueError("tool parameters must be a JSON schema with type: object")
        return parameters


class Probe(_Strict):
    """One attack: the inputs sent to the target and the detectors that decide whether it worked."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(?:\.[a-z0-9_]+)+$")]
    title: NonEmptyStr
    owasp: OwaspId
    severity: Severity
    tags: tuple[str, ...] = ()
    description: NonEmptyStr
    remediation: NonEmptyStr
    system_prompt: PayloadText | None = None
    context_documents: tuple[PayloadText, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    prompts: tuple[PayloadText, ...] = ()
    turns: tuple[tuple[PayloadText, ...], ...] = ()
    detectors: tuple[Detector, ...] = Field(min_length=1)
    goal: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = Field(
        default=None,
        description="What success means, in one sentence, as the attacker model is told it (adaptive strategies "
        "attack this goal). May use {marker} and {exfil_url}; never {canary}.",
    )
    rubric: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)] | None = Field(
        default=None,
        description="The condition the LLM judge checks in the response when a judge is configured: true means "
        "the attack worked. May use {marker} and {exfil_url}.",
    )
    echo_is_goal: bool = Field(
        default=False,
        description="Reproducing the attacker's text is what the probe tests (e.g. rendering an injected payload): "
        "detectors then count evidence inside a copy of the prompt too.",
    )

    _pack: str = PrivateAttr(default="")

    @property
    def pack(self) -> str:
        """Name of the pack this probe was loaded from ('' when validated on its own)."""
        return self._pack

    def __hash__(self) -> int:
        # Ids are unique, and the default field hash fails on the dicts inside tool schemas.
        return hash(self.id)

    @property
    def attempts(self) -> tuple[tuple[str, ...], ...]:
        """User messages per attempt, unrendered: one per prompt, or one multi-turn script each."""
        return self.turns or tuple((prompt,) for prompt in self.prompts)

    @property
    def judge_rubric(self) -> str | None:
        """The rubric the judge grades with: the probe's `rubric`, else that of a listed `judge` detector."""
        if self.rubric:
            return self.rubric
        return next((spec.rubric for spec in self.detectors if isinstance(spec, JudgeDetector)), None)

    @property
    def atlas(self) -> tuple[str, ...]:
        """MITRE ATLAS technique ids from the ``atlas:`` tags, for reports."""
        return tuple(tag.removeprefix("atlas:") for tag in self.tags if tag.startswith("atlas:"))

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        for tag in tags:
            if not _TAG.fullmatch(tag):
                raise ValueError(f"tag {tag!r} must be a single token of letters, digits and _ . : -")
            if tag.startswith("atlas:") and not _ATLAS_TAG.fullmatch(tag):
                raise ValueError(f"tag {tag!r} is not an ATLAS technique id like atlas:AML.T0051.000")
        if len(set(tags)) != len(tags):
            raise ValueError("tags must not repeat")
        return tags

    @field_validator("detectors", mode="before")
    @classmethod
    def _normalise_detectors(cls, value: object) -> object:
        """Accept ``marker`` as shorthand for ``{name: marker}`` and name unknown detectors plainly."""
        if not isinstance(value, list | tuple):
            return value
        normalised: list[object] = []
        for item in value:
            entry = {"name": item} if isinstance(item, str) else item
            if isinstance(entry, dict):
                name = entry.get("name")
                if name not in DETECTOR_NAMES:
                    raise ValueError(f"unknown detector {name!r}; allowed: {', '.join(sorted(DETECTOR_NAMES))}")
            normalised.append(entry)
        return normalised

    @model_validator(mode="after")
    def _check_consistency(self) -> Probe:
        """Cross-field rules: without them a probe could load yet never be able to fire."""
        if bool(self.prompts) == bool(self.turns):
            raise ValueError("a probe needs exactly one of 'prompts' (single-turn) or 'turns' (multi-turn)")
        if any(not script for script in self.turns):
            raise ValueError("every multi-turn script needs at least one user message")

        attacker_vars: set[str] = set()
        for text in [*self.prompts, *(message for script in self.turns for message in script)]:
            attacker_vars |= template_variables(text)
        document_vars: set[str] = set()
        for text in self.context_documents:
            document_vars |= template_variables(text)
        system_vars = template_variables(self.system_prompt) if self.system_prompt else set()

        if "canary" in attacker_vars:
            raise ValueError("{canary} is the target's secret: it may appear only in system_prompt/documents")
        for name, value in (("goal", self.goal), ("rubric", self.rubric)):
            if value and "canary" in template_variables(value):
                raise ValueError(f"{{canary}} may not appear in the {name}: the attacker model and judge read it")

        names = [detector.name for detector in self.detectors]
        if "refusal" in names:
            raise ValueError("detector 'refusal' is a negative signal only and cannot decide a probe")
        if not DECIDING_DETECTORS.intersection(names):
            raise ValueError("a probe needs a deterministic detector besides 'judge'")
        if "canary" in names and "canary" not in document_vars | system_vars:
            raise ValueError("detector 'canary' needs {canary} planted in system_prompt or context_documents")
        if "marker" in names and "marker" not in attacker_vars | document_vars:
            raise ValueError("detector 'marker' needs {marker} in a prompt, turn or context document")

        tool_names = [tool.name for tool in self.tools]
        if len(set(tool_names)) != len(tool_names):
            raise ValueError("tool names must be unique within a probe")
        for detector in self.detectors:
            if isinstance(detector, ToolCallDetector) and detector.tool not in tool_names:
                raise ValueError(f"detector tool_call names tool {detector.tool!r} that is not declared in tools")
        return self


class Pack(_Strict):
    """One YAML file of probes; ``pack`` must equal the file stem (checked by the registry)."""

    pack: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]
    title: NonEmptyStr
    version: StrictPositiveInt
    probes: tuple[Probe, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_and_owned(self) -> Pack:
        seen: set[str] = set()
        for probe in self.probes:
            if probe.id in seen:
                raise ValueError(f"duplicate probe id {probe.id!r} in pack {self.pack!r}")
            seen.add(probe.id)
            probe._pack = self.pack
        return self
