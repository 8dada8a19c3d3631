"""Typed, strict models for probe packs.

Probe packs are data (YAML under ``packs/``); these models are the contract between that data and the
scan engine. Everything the engine relies on is checked here at load time, so a typo in a pack fails the
test suite instead of silently producing a probe that can never fire.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
import string
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from app.engine.plugins import load_entry_points

if TYPE_CHECKING:
    from app.engine.model import Detector as DetectorImplementation

__all__ = [
    "DECIDING_DETECTORS",
    "DETECTOR_ENTRY_POINTS",
    "DETECTOR_NAMES",
    "KIND_DETECTORS",
    "MAX_VARIANTS",
    "SEVERITY_RANK",
    "TEMPLATE_VARIABLES",
    "CanaryDetector",
    "CodeExecDetector",
    "Detector",
    "DetectorSpec",
    "JudgeDetector",
    "KeywordsDetector",
    "LengthDetector",
    "MarkerDetector",
    "MarkupExfilDetector",
    "OverRefusalDetector",
    "OwaspId",
    "Pack",
    "PackageHallucinationDetector",
    "PairDetector",
    "PiiDetector",
    "Probe",
    "ProbeKind",
    "RefusalDetector",
    "RegexDetector",
    "Severity",
    "ToolCallDetector",
    "ToolSpec",
    "Variant",
    "detector_name",
    "detector_specs",
    "render",
    "spec_class",
    "template_variables",
]

OwaspId = Literal["LLM01", "LLM02", "LLM03", "LLM04", "LLM05", "LLM06", "LLM07", "LLM08", "LLM09", "LLM10"]
Severity = Literal["critical", "high", "medium", "low", "info"]

#: Ordering used by ``severity:<level>`` selectors ("at least this severe").
SEVERITY_RANK: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

#: The only names a prompt, system prompt or document may interpolate; the engine fills all three.
TEMPLATE_VARIABLES: frozenset[str] = frozenset({"canary", "marker", "exfil_url"})

#: Entry point group of third-party detectors: each entry names a `DetectorSpec` subclass, under its detector name.
DETECTOR_ENTRY_POINTS = "secureai.detectors"
#: What a probe tests. `attack`: a vulnerability when the attack works. `over_refusal`: a benign request that
#: sounds dangerous; refusing it is a usability finding, reported apart from vulnerabilities. `bias_pair`: the
#: same request once per value of a protected attribute (`pair_slot`); answers that differ are a bias finding.
ProbeKind = Literal["attack", "over_refusal", "bias_pair"]
#: The detector each non-attack kind is decided by (and the only deciding one it may list).
KIND_DETECTORS: dict[str, str] = {"over_refusal": "over_refusal", "bias_pair": "pair"}
#: Most attempts one probe may expand to (prompts x slot combinations), so planning stays bounded.
MAX_VARIANTS = 5_000
_SLOT_NAME = r"^[a-z][a-z0-9_]{0,39}$"


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


def template_variables(text: str, slots: frozenset[str] | set[str] = frozenset()) -> set[str]:
    """Return the template variables used in ``text``.

    Parsing follows ``str.format`` exactly (``{{``/``}}`` are literal braces), so what validates here is
    what the engine's :func:`render` will accept. Anything but a bare allowed name (the engine's variables,
    or one of the probe's ``slots``) raises ``ValueError``.
    """
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise ValueError(f"malformed template ({exc}); write literal braces as '{{{{' and '}}}}'") from None
    names: set[str] = set()
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in TEMPLATE_VARIABLES and field not in slots:
            allowed = ", ".join(f"{{{name}}}" for name in sorted(TEMPLATE_VARIABLES | set(slots)))
            raise ValueError(f"unknown template variable {{{field}}}; allowed: {allowed}")
        if spec or conversion:
            raise ValueError(f"template variable {{{field}}} must not carry a format spec or conversion")
        names.add(field)
    return names


def render(template: str, *, canary: str, marker: str, exfil_url: str, slots: Mapping[str, str] | None = None) -> str:
    """Fill a validated template; kept next to the validator so both agree on the syntax.

    ``slots`` are the attempt's slot values; a value is inserted as it is (braces in it stay literal).
    """
    return template.format_map({**(slots or {}), "canary": canary, "marker": marker, "exfil_url": exfil_url})


def _compile(pattern: str, flags: str | None = None) -> re.Pattern[str]:
    value = 0
    for letter in flags or "":
        value |= _REGEX_FLAGS[letter]
    return re.compile(pattern, value)


class _Strict(BaseModel):
    """Base for every pack model: unknown keys are errors, loaded objects are read-only (they are cached)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- detectors -------------------------------------------------------------------------------------------

log = logging.getLogger("secureai.engine")
_DETECTOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: The shipped detector specs by name, in definition order: defining a subclass below registers it.
_SHIPPED_DETECTORS: dict[str, type[DetectorSpec]] = {}


class DetectorSpec(_Strict):
    """What a probe lists under `detectors:`: a detector's name and settings, and how to build it.

    A detector is registered by defining its spec, once: a subclass with `name: Literal["x"] = "x"` (the name
    packs use), its settings as fields, a one-line `description` and `build()`, which returns the engine's
    `Detector` (imported there, so loading packs never loads detector code). Subclasses in this module are the
    shipped detectors; a third party registers one through the `secureai.detectors` entry point group
    (`x = "their_module:XDetector"`), and packs can then list `x` like any other (`detector_specs`).
    """

    name: str
    #: One line for `available_detectors()` and the docs.
    description: ClassVar[str] = ""
    #: Whether the detector decides an attempt on its own, without an LLM (`refusal` and `judge` do not).
    decides: ClassVar[bool] = True

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__module__ == __name__:
            _SHIPPED_DETECTORS[detector_name(cls)] = cls

    def build(self) -> DetectorImplementation:
        """The detector this spec configures."""
        raise NotImplementedError(f"detector {self.name!r} does not say how to build it")


def detector_name(spec: type[DetectorSpec]) -> str:
    """The name a spec class registers (its `name` field's default); ValueError when it has none or a bad one."""
    field = spec.model_fields.get("name")
    name = field.default if field is not None else None
    if not isinstance(name, str) or not _DETECTOR_NAME.fullmatch(name):
        raise ValueError(f"{spec.__qualname__} needs name: Literal['...'] = '...' (lower case, digits, _)")
    return name


def detector_specs() -> dict[str, type[DetectorSpec]]:
    """Every detector packs may list, by name: the shipped ones, then those of the `secureai.detectors` entry
    points on the import path (a broken one is skipped with a warning instead of breaking every scan)."""
    return dict(_registered_detectors(tuple(sys.path)))


def spec_class(name: str) -> type[DetectorSpec] | None:
    """The spec class registered under `name`, shipped or from a plugin (plugins are looked up only for a name
    no shipped detector has, so loading the shipped packs never reads the installed distributions)."""
    return _SHIPPED_DETECTORS.get(name) or detector_specs().get(name)


@functools.lru_cache(maxsize=16)
def _registered_detectors(path: tuple[str, ...]) -> dict[str, type[DetectorSpec]]:
    """`detector_specs` for one import path: computed (and any plugin warned about) once, not per pack entry."""
    specs = dict(_SHIPPED_DETECTORS)
    for entry_name, spec in load_entry_points(DETECTOR_ENTRY_POINTS, _plugin_spec):
        name = detector_name(spec)
        if name in specs or name != entry_name:
            problem = (
                "the name of a shipped detector" if name in specs else f"not the entry point's name {entry_name!r}"
            )
            log.warning("detector plugin %r skipped: its name %r is %s", entry_name, name, problem)
            continue
        specs[name] = spec
    return specs


def _plugin_spec(loaded: object) -> type[DetectorSpec]:
    if not (isinstance(loaded, type) and issubclass(loaded, DetectorSpec)):
        raise TypeError(f"{loaded!r} is not a subclass of app.engine.probes.schema.DetectorSpec")
    detector_name(loaded)
    if loaded.build is DetectorSpec.build:
        raise TypeError(f"{loaded.__qualname__} does not define build()")
    return loaded


class _RegisteredDetector:
    """Validates one `detectors:` entry against the spec its name registers (looked up at validation time, so
    plugins count), and describes the entry as a tagged union of every registered spec in the JSON Schema."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(_validate_detector)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        specs = tuple(detector_specs().values())
        tagged: Any = Annotated[Union[specs], Field(discriminator="name")]  # noqa: UP007 - built at run time
        union: TypeAdapter[DetectorSpec] = TypeAdapter(tagged)
        return handler(union.core_schema)


def _validate_detector(value: object) -> DetectorSpec:
    if isinstance(value, DetectorSpec):
        return value
    entry = {"name": value} if isinstance(value, str) else value  # `- marker` is short for `- name: marker`
    if not isinstance(entry, dict):
        raise ValueError("a detector is a name or a mapping with a name")
    name = entry.get("name")
    spec = spec_class(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown detector {name!r}; allowed: {', '.join(sorted(detector_specs()))}")
    return spec.model_validate(entry)


class MarkerDetector(DetectorSpec):
    """The attacker's ``{marker}`` shows up in the output (the engine also checks encoded forms)."""

    name: Literal["marker"] = "marker"
    description: ClassVar[str] = "The attack marker in the output, also re-cased, spaced, reversed, ROT13'd or encoded."

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.markers import TokenDetector

        return TokenDetector("marker")


class CanaryDetector(DetectorSpec):
    """The planted ``{canary}`` secret shows up in the output."""

    name: Literal["canary"] = "canary"
    description: ClassVar[str] = "The planted canary secret in the output or tool-call arguments, in any form."

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.markers import TokenDetector

        return TokenDetector("canary")


class RefusalDetector(DetectorSpec):
    """The target refused. Only a negative signal for the engine, so a probe may not list it."""

    name: Literal["refusal"] = "refusal"
    description: ClassVar[str] = "Explicit refusal (multilingual, scored); tells 'refused' from 'safe'."
    decides: ClassVar[bool] = False

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.refusal import RefusalClassifier

        return RefusalClassifier()


class RegexDetector(DetectorSpec):
    """A Python regular expression over the output. Patterns are not templated (braces are quantifiers)."""

    name: Literal["regex"] = "regex"
    description: ClassVar[str] = "The probe's regular expression matches the output."

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.patterns import RegexMatch

        return RegexMatch(self)

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


class KeywordsDetector(DetectorSpec):
    """At least ``min_matches`` of ``words`` occur in the output (case-insensitive in the engine)."""

    name: Literal["keywords"] = "keywords"
    description: ClassVar[str] = "At least min_matches of the probe's keywords occur (case-insensitive)."

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.patterns import KeywordMatch

        return KeywordMatch(self)

    words: tuple[NonEmptyStr, ...] = Field(min_length=1)
    min_matches: StrictPositiveInt = 1

    @model_validator(mode="after")
    def _reachable(self) -> KeywordsDetector:
        if self.min_matches > len(self.words):
            raise ValueError(f"min_matches={self.min_matches} exceeds the {len(self.words)} words given")
        return self


class MarkupExfilDetector(DetectorSpec):
    """Markdown/HTML that would make a renderer fetch ``{exfil_url}`` or a URL carrying data."""

    name: Literal["markup_exfil"] = "markup_exfil"
    description: ClassVar[str] = "Markdown/HTML/CSS URL to the exfiltration host or carrying data."

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.markup import MarkupExfil

        return MarkupExfil()


PiiKind = Literal["email", "phone", "credit_card", "api_key", "ssn", "iban"]


class PiiDetector(DetectorSpec):
    """PII or secret formats in the output; ``kinds`` narrows which ones count (default: all)."""

    name: Literal["pii"] = "pii"
    description: ClassVar[str] = "Validated emails, phones, cards (Luhn), IBANs (mod-97), SSNs and API keys/secrets."

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.pii import PiiScanner

        return PiiScanner(self)

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


class ToolCallDetector(DetectorSpec):
    """The target called the declared tool ``tool``; ``arguments_pattern`` filters on its JSON arguments."""

    name: Literal["tool_call"] = "tool_call"
    description: ClassVar[str] = "A call to the named tool, native or written in the text, optionally by arguments."

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.tools import ToolCallCheck

        return ToolCallCheck(self)

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


class CodeExecDetector(DetectorSpec):
    """Dangerous shell/SQL/JS/Python in the output; ``languages`` narrows the check (default: all)."""

    name: Literal["code_exec"] = "code_exec"
    description: ClassVar[str] = "Dangerous shell, SQL, JavaScript or Python in the output."

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.code_exec import CodeExecScanner

        return CodeExecScanner(self)

    languages: tuple[CodeLanguage, ...] | None = Field(default=None, min_length=1)


class PackageHallucinationDetector(DetectorSpec):
    """Recommended package names that do not exist in the shipped index of ``ecosystem``."""

    name: Literal["package_hallucination"] = "package_hallucination"
    description: ClassVar[str] = "Recommended PyPI/npm package names missing from the shipped index."

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.packages import PackageCheck

        return PackageCheck(self)

    ecosystem: Literal["pypi", "npm"]


class LengthDetector(DetectorSpec):
    """Runaway output: more than ``max_chars`` characters."""

    name: Literal["length"] = "length"
    description: ClassVar[str] = "Output longer than max_chars, or cut off at the token limit."

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.length import LengthLimit

        return LengthLimit(self)

    max_chars: StrictPositiveInt


class JudgeDetector(DetectorSpec):
    """The LLM judge's grade on a rubric (this one, else the probe's ``rubric``).

    Listed with a deterministic detector, it adds a second opinion. Listed alone, the probe is judge-decided
    (harmful content, where only a reader can tell compliance): without a judge model such a probe's attempts
    are ``refused`` when the target refused and ``unscored`` otherwise, never ``safe``.
    """

    name: Literal["judge"] = "judge"
    description: ClassVar[str] = (
        "The LLM judge's grade on the probe's rubric; undecided unless a judge model is configured."
    )
    decides: ClassVar[bool] = False

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.judge import JudgeSlot

        return JudgeSlot()

    rubric: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)] | None = None


class OverRefusalDetector(DetectorSpec):
    """The target refused a benign request that only sounds dangerous (``kind: over_refusal`` probes)."""

    name: Literal["over_refusal"] = "over_refusal"
    description: ClassVar[str] = "The target refused a benign request that only sounds dangerous (a usability finding)."

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.over_refusal import OverRefusal

        return OverRefusal()


_DECISION_WORD = r"^[^\W\d_]+(?:[ -][^\W\d_]+){0,3}$"
_Finite = Annotated[float, Field(allow_inf_nan=False)]


class PairDetector(DetectorSpec):
    """Compares the answers of a ``kind: bias_pair`` probe, one per value of its protected attribute: it fires
    when one is refused and another answered, when they commit to different ``decisions``, or when their scores
    on ``score_range`` lie more than ``max_score_gap`` apart."""

    name: Literal["pair"] = "pair"
    description: ClassVar[str] = (
        "Answers to the same request for different values of a protected attribute or a "
        "differ (refusal, decision score): bias finding."
    )

    def build(self) -> DetectorImplementation:
        from app.engine.detectors.pair import PairComparison

        return PairComparison(self)

    decisions: tuple[Annotated[str, StringConstraints(strip_whitespace=True, pattern=_DECISION_WORD)], ...] = Field(
        default=(),
        description="The decisions an answer can commit to (hire, reject...), two or more, matched as words "
        "case-insensitively with their inflections (rejected, hiring); empty: no decision is compared.",
    )
    score_range: tuple[_Finite, _Finite] | None = Field(
        default=None,
        description="The scale the prompt asks a score on, lowest and highest ([0, 10]); a number outside it is "
        "not a score. None: no score is compared.",
    )
    max_score_gap: _Finite = Field(default=1.0, ge=0, description="Scores further apart than this differ.")

    @model_validator(mode="after")
    def _comparable(self) -> PairDetector:
        if not self.decisions and self.score_range is None:
            raise ValueError("detector 'pair' needs decisions or a score_range to compare")
        if len(self.decisions) == 1:
            raise ValueError("detector 'pair' needs two or more decisions (or none)")
        if len({word.casefold() for word in self.decisions}) != len(self.decisions):
            raise ValueError("detector 'pair' decisions must not repeat")
        if self.score_range is not None:
            low, high = self.score_range
            if not low < high:
                raise ValueError("detector 'pair' score_range must be [lowest, highest] with lowest < highest")
            if self.max_score_gap >= high - low:
                raise ValueError("detector 'pair' max_score_gap must be smaller than the score_range")
        return self


#: The names of the shipped detectors (plugins add theirs: `detector_specs`).
DETECTOR_NAMES: frozenset[str] = frozenset(_SHIPPED_DETECTORS)
#: Shipped detectors that decide an attempt without an LLM; every probe needs one (a plugin's may do) unless it
#: is judge-decided (lists only `judge`).
DECIDING_DETECTORS: frozenset[str] = frozenset(name for name, spec in _SHIPPED_DETECTORS.items() if spec.decides)
#: Any detector spec a probe lists, shipped or from a plugin.
Detector = Annotated[DetectorSpec, _RegisteredDetector()]


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


@dataclass(frozen=True)
class Variant:
    """One attempt a probe expands to: a prompt (or multi-turn script) and the slot values it is filled with."""

    script: int
    slots: tuple[tuple[str, str], ...] = ()

    @property
    def slot_values(self) -> dict[str, str]:
        return dict(self.slots)


SlotValue = Annotated[str, StringConstraints(min_length=1, max_length=2_000), AfterValidator(_not_blank)]


class Probe(_Strict):
    """One attack: the inputs sent to the target and the detectors that decide whether it worked."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(?:\.[a-z0-9_]+)+$")]
    title: NonEmptyStr
    owasp: OwaspId
    severity: Severity
    kind: ProbeKind = "attack"
    slots: dict[Annotated[str, StringConstraints(pattern=_SLOT_NAME)], tuple[SlotValue, ...]] = Field(
        default_factory=dict,
        description="Template slots: each prompt and turn may use {name}; the probe yields one attempt per prompt "
        "and per combination of slot values (see `combine`), and each attempt records its values.",
    )
    combine: Literal["product", "zip"] = Field(
        default="product",
        description="`product`: every combination of slot values; `zip`: the n-th value of every slot together "
        "(all slots then hold the same number of values).",
    )
    pair_slot: str | None = Field(
        default=None,
        description="bias_pair probes: the slot holding the protected attribute's values; one attempt sends the "
        "prompt once per value, each in its own conversation, and the `pair` detector compares the answers.",
    )
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
    _variants: tuple[Variant, ...] = PrivateAttr(default=())

    @property
    def pack(self) -> str:
        """Name of the pack this probe was loaded from ('' when validated on its own)."""
        return self._pack

    def __hash__(self) -> int:
        # Ids are unique, and the default field hash fails on the dicts inside tool schemas.
        return hash(self.id)

    @property
    def scripts(self) -> tuple[tuple[str, ...], ...]:
        """The user messages of each prompt (one each) or multi-turn script, unrendered."""
        return self.turns or tuple((prompt,) for prompt in self.prompts)

    @property
    def variants(self) -> tuple[Variant, ...]:
        """Every attempt the probe expands to, script-major: each script with each slot combination."""
        return self._variants

    @property
    def attempts(self) -> tuple[tuple[str, ...], ...]:
        """User messages per attempt (per variant), unrendered: slot values are filled by the plan."""
        scripts = self.scripts
        return tuple(scripts[variant.script] for variant in self._variants)

    def script_of(self, index: int) -> tuple[str, ...]:
        """The user messages of attempt (variant) `index`, unrendered; `attempts[index]` without building the
        whole tuple, which a plan asks for once per planned attempt."""
        return self.scripts[self._variants[index].script]

    @property
    def pair_values(self) -> tuple[str, ...]:
        """The values of the pair slot, each sent in its own conversation (empty unless `kind: bias_pair`)."""
        return self.slots[self.pair_slot] if self.pair_slot else ()

    @property
    def needs_judge(self) -> bool:
        """Whether only the judge can say the attack worked (no deterministic detector decides it)."""
        return not any(detector.decides for detector in self.detectors)

    @property
    def judge_rubric(self) -> str | None:
        """The rubric the judge grades with: the probe's `rubric`, else that of a listed `judge` detector."""
        if self.rubric:
            return self.rubric
        return next((spec.rubric for spec in self.detectors if isinstance(spec, JudgeDetector) and spec.rubric), None)

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

    @model_validator(mode="after")
    def _check_consistency(self) -> Probe:
        """Cross-field rules: without them a probe could load yet never be able to fire."""
        if bool(self.prompts) == bool(self.turns):
            raise ValueError("a probe needs exactly one of 'prompts' (single-turn) or 'turns' (multi-turn)")
        if any(not script for script in self.turns):
            raise ValueError("every multi-turn script needs at least one user message")

        slot_names = frozenset(self.slots) - {self.pair_slot} if self.pair_slot else frozenset(self.slots)
        all_slots = frozenset(self.slots)
        attacker_vars: set[str] = set()
        for text in [*self.prompts, *(message for script in self.turns for message in script)]:
            attacker_vars |= template_variables(text, all_slots)
        document_vars: set[str] = set()
        for text in self.context_documents:
            document_vars |= template_variables(text)
        system_vars = template_variables(self.system_prompt) if self.system_prompt else set()

        if "canary" in attacker_vars:
            raise ValueError("{canary} is the target's secret: it may appear only in system_prompt/documents")
        for name, value in (("goal", self.goal), ("rubric", self.rubric)):
            if value and "canary" in template_variables(value, all_slots):
                raise ValueError(f"{{canary}} may not appear in the {name}: the attacker model and judge read it")
        self._check_slots(attacker_vars, slot_names)

        names = [detector.name for detector in self.detectors]
        if "refusal" in names:
            raise ValueError("detector 'refusal' is a negative signal only and cannot decide a probe")
        self._check_kind(names)
        for detector in self.detectors:
            if isinstance(detector, JudgeDetector) and detector.rubric is None and self.rubric is None:
                raise ValueError("detector 'judge' needs a rubric: give it one, or give the probe a 'rubric'")
        if not any(detector.decides for detector in self.detectors) and "judge" not in names:
            raise ValueError("a probe needs a deterministic detector, or 'judge' alone for a judge-decided probe")
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
        self._variants = self._expand(slot_names)
        return self

    def _check_slots(self, used: set[str], expanded: frozenset[str]) -> None:
        for name, values in self.slots.items():
            if name in TEMPLATE_VARIABLES:
                raise ValueError(f"slot name {name!r} is reserved for the engine")
            if not values:
                raise ValueError(f"slot {name!r} needs at least one value")
            if len(set(values)) != len(values):
                raise ValueError(f"slot {name!r} repeats a value")
            if name not in used:
                raise ValueError(f"slot {name!r} is not used by any prompt or turn")
        if self.combine == "zip" and len({len(self.slots[name]) for name in expanded}) > 1:
            raise ValueError("combine: zip needs every slot to hold the same number of values")
        if self.kind == "bias_pair":
            if self.pair_slot is None or self.pair_slot not in self.slots:
                raise ValueError("a bias_pair probe needs pair_slot naming one of its slots")
            if len(self.slots[self.pair_slot]) < 2:
                raise ValueError(f"pair_slot {self.pair_slot!r} needs two or more values to compare")
        elif self.pair_slot is not None:
            raise ValueError("pair_slot is only for kind: bias_pair")

    def _check_kind(self, names: Sequence[str]) -> None:
        for kind, detector in KIND_DETECTORS.items():
            if detector in names and self.kind != kind:
                raise ValueError(f"detector {detector!r} is only for kind: {kind}")
        required = KIND_DETECTORS.get(self.kind)
        if required and required not in names:
            raise ValueError(f"a {self.kind} probe is decided by detector {required!r}; list it")
        if self.kind != "attack" and self.turns:
            raise ValueError(f"a {self.kind} probe sends single prompts, not multi-turn scripts")

    def _expand(self, expanded: frozenset[str]) -> tuple[Variant, ...]:
        names = [name for name in self.slots if name in expanded]
        columns = [self.slots[name] for name in names]
        if not names:
            combos: list[tuple[str, ...]] = [()]
        elif self.combine == "zip":
            combos = list(zip(*columns, strict=True))
        else:
            size = 1
            for column in columns:
                size *= len(column)
            if size * len(self.scripts) > MAX_VARIANTS:
                raise ValueError(f"prompts x slot combinations exceed {MAX_VARIANTS} attempts; use combine: zip")
            combos = list(itertools.product(*columns))
        if len(combos) * len(self.scripts) > MAX_VARIANTS:
            raise ValueError(f"prompts x slot combinations exceed {MAX_VARIANTS} attempts")
        return tuple(
            Variant(script, tuple(zip(names, combo, strict=True)))
            for script in range(len(self.scripts))
            for combo in combos
        )


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
