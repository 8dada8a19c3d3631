"""Compliance frameworks and the probe-to-requirement mapping, loaded from versioned YAML.

Frameworks (OWASP, NIST, ISO/IEC 42001, EU AI Act, MITRE ATLAS, India DPDP) are data under
``frameworks/`` so that a reviewer can audit identifiers and mappings without reading code, and so a
new edition is a new file rather than a code change. Everything is validated when loaded: a typo in a
requirement id would otherwise silently drop evidence from every compliance report, so it must fail
loudly instead, naming the file, the framework and the id.

The default catalogue is read once per process and cached. Models are frozen, their lists are tuples and
the framework table is a read-only view, so callers share it and must treat it as read-only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, ValidationError, model_validator

from app.core.yaml_loader import load_strict_yaml

__all__ = [
    "FRAMEWORKS_DIR",
    "MAPPING_FILE",
    "Catalog",
    "CatalogError",
    "Framework",
    "MappingFile",
    "MappingRule",
    "Match",
    "OwaspId",
    "Requirement",
    "Source",
    "default_catalog",
    "load_catalog",
    "load_frameworks",
    "load_mapping",
    "requirements_for",
    "unmapped_requirements",
]

FRAMEWORKS_DIR: Path = Path(__file__).with_name("frameworks")
MAPPING_FILE = "mapping.yaml"

#: OWASP Top 10 for LLM Applications 2025 ids, the category every probe carries. Kept local (not imported
#: from the probe schema) so the compliance catalogue does not depend on the scan engine.
OwaspId = Literal["LLM01", "LLM02", "LLM03", "LLM04", "LLM05", "LLM06", "LLM07", "LLM08", "LLM09", "LLM10"]
OWASP_IDS: frozenset[str] = frozenset(f"LLM{n:02d}" for n in range(1, 11))

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
#: Requirement ids are exact citations ("MEASURE 2.7", "Art. 15(5)"): no padding, single spaces only.
RequirementId = Annotated[str, StringConstraints(pattern=r"^\S+(?: \S+)*$", max_length=120)]
FrameworkId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$", max_length=64)]
Url = Annotated[str, StringConstraints(pattern=r"^https://\S+$")]
#: Same token rules as probe tags, so a rule can only name a tag a probe could carry.
Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
_ATLAS_TAG = re.compile(r"atlas:AML\.T\d{4}(?:\.\d{3})?")
#: YAML gives lists; store tuples. Strict(False) relaxes only the container, items stay strictly typed.
RequirementIds = Annotated[tuple[RequirementId, ...], Strict(False)]


class CatalogError(ValueError):
    """A framework or mapping file is unreadable, invalid, or inconsistent with the others."""


class _Strict(BaseModel):
    """No coercion, no unknown keys, no mutation: the files are the source of truth, typos must fail."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Source(_Strict):
    """The official publication a framework file transcribes identifiers from."""

    title: Text
    url: Url


class Requirement(_Strict):
    """One citable item of a framework: a control, article paragraph, risk or technique."""

    id: RequirementId
    title: Text
    description: Text
    group: Text | None = None


class Framework(_Strict):
    """A versioned framework file; ``id`` must equal the file's stem."""

    id: FrameworkId
    name: Text
    version: Text
    source: Source
    notes: Text | None = None
    requirements: Annotated[tuple[Requirement, ...], Strict(False)] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Framework:
        seen: set[str] = set()
        for requirement in self.requirements:
            if requirement.id in seen:
                raise ValueError(f"requirement id {requirement.id!r} appears more than once")
            seen.add(requirement.id)
        return self

    def requirement(self, requirement_id: str) -> Requirement:
        """The requirement with this id; ``KeyError`` if the framework has none."""
        for requirement in self.requirements:
            if requirement.id == requirement_id:
                return requirement
        raise KeyError(f"framework {self.id!r} has no requirement {requirement_id!r}")

    @property
    def requirement_ids(self) -> frozenset[str]:
        """All requirement ids, for membership checks."""
        return frozenset(requirement.id for requirement in self.requirements)


class Match(_Strict):
    """When a rule applies: every given key must hold (an OWASP category, a tag, or both)."""

    owasp: OwaspId | None = None
    tag: Tag | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Match:
        if self.owasp is None and self.tag is None:
            raise ValueError("match needs at least one of 'owasp' or 'tag'")
        if self.tag is not None and self.tag.startswith("atlas:") and not _ATLAS_TAG.fullmatch(self.tag):
            raise ValueError(f"tag {self.tag!r} is not an ATLAS technique id like atlas:AML.T0051.000")
        return self

    def describe(self) -> str:
        """Short human form for error messages, e.g. ``owasp=LLM01, tag=agentic``."""
        parts = [f"owasp={self.owasp}" if self.owasp else "", f"tag={self.tag}" if self.tag else ""]
        return ", ".join(part for part in parts if part)

    def applies(self, owasp: str, tags: Iterable[str]) -> bool:
        """True if the probe's category and tags satisfy every key of this match."""
        if self.owasp is not None and self.owasp != owasp:
            return False
        return self.tag is None or any(_tag_matches(self.tag, tag) for tag in tags)


class MappingRule(_Strict):
    """Requirements (per framework id) that probes satisfying ``match`` can evidence."""

    match: Match
    note: Text | None = None
    requirements: dict[FrameworkId, RequirementIds] = Field(min_length=1)

    @model_validator(mode="after")
    def _non_empty_unique_lists(self) -> MappingRule:
        for framework_id, ids in self.requirements.items():
            if not ids:
                raise ValueError(f"framework {framework_id!r} lists no requirement ids; drop the key instead")
            if len(set(ids)) != len(ids):
                raise ValueError(f"framework {framework_id!r} lists a requirement id more than once")
        return self


class MappingFile(_Strict):
    """The whole ``mapping.yaml``: a format version and the rules."""

    version: Literal[1]
    rules: Annotated[tuple[MappingRule, ...], Strict(False)] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_matches(self) -> MappingFile:
        seen: set[tuple[str | None, str | None]] = set()
        for rule in self.rules:
            key = (rule.match.owasp, rule.match.tag)
            if key in seen:
                raise ValueError(f"two rules share the match ({rule.match.describe()}); merge them")
            seen.add(key)
        return self


def _tag_matches(wanted: str, tag: str) -> bool:
    """Exact, or a parent in the tag's hierarchy: ``atlas:AML.T0051`` covers ``atlas:AML.T0051.000``.

    Mirrors the probe selector semantics so ``tag:X`` means the same thing in selection and mapping.
    """
    wanted, tag = wanted.lower(), tag.lower()
    return tag == wanted or tag.startswith((f"{wanted}.", f"{wanted}:"))


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    try:
        return load_strict_yaml(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: invalid YAML: {exc}") from None


def _explain(exc: ValidationError, data: Any) -> str:
    """One line per error, with list positions translated to requirement ids where possible."""
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = ".".join(str(part) for part in loc) or "(top level)"
        if len(loc) >= 2 and loc[0] == "requirements" and isinstance(loc[1], int) and isinstance(data, dict):
            items = data.get("requirements")
            if isinstance(items, list) and loc[1] < len(items) and isinstance(items[loc[1]], dict):
                requirement_id = items[loc[1]].get("id")
                if requirement_id is not None:
                    where = f"{where} (requirement {requirement_id!r})"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


def _framework_paths(directory: Path) -> list[Path]:
    return sorted(path for path in directory.glob("*.yaml") if path.name != MAPPING_FILE)


def load_frameworks(directory: Path | str | None = None) -> dict[str, Framework]:
    """Every framework file in ``directory`` (default: the shipped ones), keyed by framework id.

    Raises :class:`CatalogError` naming the file for unreadable YAML, schema violations (unknown keys,
    wrong types, duplicate requirement ids) and a framework id that differs from the file stem.
    """
    root = FRAMEWORKS_DIR if directory is None else Path(directory)
    paths = _framework_paths(root)
    if not paths:
        raise CatalogError(f"{root}: no framework files (*.yaml other than {MAPPING_FILE})")
    frameworks: dict[str, Framework] = {}
    for path in paths:
        data = _read_yaml(path)
        try:
            framework = Framework.model_validate(data)
        except ValidationError as exc:
            raise CatalogError(f"{path}: invalid framework: {_explain(exc, data)}") from None
        if framework.id != path.stem:
            message = f"framework id {framework.id!r} must equal the file name {path.stem!r}"
            raise CatalogError(f"{path}: {message}")
        frameworks[framework.id] = framework
    return frameworks


def load_mapping(
    directory: Path | str | None = None,
    frameworks: Mapping[str, Framework] | None = None,
) -> MappingFile:
    """``mapping.yaml`` from ``directory``, checked against ``frameworks`` (default: same directory's).

    Every framework key must name a loaded framework and every id must exist in it; the error names the
    file, the rule, the framework and the id.
    """
    root = FRAMEWORKS_DIR if directory is None else Path(directory)
    known = load_frameworks(root) if frameworks is None else frameworks
    path = root / MAPPING_FILE
    data = _read_yaml(path)
    try:
        mapping = MappingFile.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{path}: invalid mapping: {_explain(exc, data)}") from None
    for number, rule in enumerate(mapping.rules, start=1):
        for framework_id, requirement_ids in rule.requirements.items():
            framework = known.get(framework_id)
            if framework is None:
                raise CatalogError(
                    f"{path}: rule {number} ({rule.match.describe()}) names unknown framework "
                    f"{framework_id!r}; known: {', '.join(sorted(known))}"
                )
            for requirement_id in requirement_ids:
                if requirement_id not in framework.requirement_ids:
                    raise CatalogError(
                        f"{path}: rule {number} ({rule.match.describe()}) references requirement "
                        f"{requirement_id!r}, which framework {framework_id!r} "
                        f"({framework_id}.yaml) does not define"
                    )
    return mapping


@dataclass(frozen=True)
class Catalog:
    """Frameworks plus the validated mapping; the object reports and scans query."""

    frameworks: Mapping[str, Framework]
    mapping: MappingFile

    def requirements_for(self, owasp: str, tags: Iterable[str]) -> dict[str, set[str]]:
        """Requirement ids, per framework id, that a probe with this category and these tags evidences.

        Frameworks with no matching requirement are omitted. An unknown OWASP id is a ``ValueError``
        because a silent empty answer would hide a typo in the caller.
        """
        if owasp not in OWASP_IDS:
            raise ValueError(f"unknown OWASP id {owasp!r}; expected LLM01..LLM10")
        if isinstance(tags, str):
            raise TypeError("tags must be an iterable of tag strings, not a single string")
        tag_list = list(tags)
        found: dict[str, set[str]] = {}
        for rule in self.mapping.rules:
            if rule.match.applies(owasp, tag_list):
                for framework_id, ids in rule.requirements.items():
                    found.setdefault(framework_id, set()).update(ids)
        return found

    def unmapped_requirements(self) -> dict[str, list[Requirement]]:
        """Per framework id (every framework, in file order), requirements no rule maps to: coverage gaps."""
        mapped: dict[str, set[str]] = {}
        for rule in self.mapping.rules:
            for framework_id, ids in rule.requirements.items():
                mapped.setdefault(framework_id, set()).update(ids)
        return {
            framework_id: [r for r in framework.requirements if r.id not in mapped.get(framework_id, set())]
            for framework_id, framework in self.frameworks.items()
        }


def load_catalog(directory: Path | str | None = None) -> Catalog:
    """Frameworks and mapping from one directory, fully cross-checked; uncached, unlike the default."""
    frameworks = load_frameworks(directory)
    return Catalog(frameworks=MappingProxyType(frameworks), mapping=load_mapping(directory, frameworks))


@functools.cache
def default_catalog() -> Catalog:
    """The shipped catalogue, loaded once per process; safe to share because everything is immutable."""
    return load_catalog()


def requirements_for(owasp: str, tags: Iterable[str]) -> dict[str, set[str]]:
    """Requirement ids per framework that a probe (OWASP category + tags) evidences; shipped files."""
    return default_catalog().requirements_for(owasp, tags)


def unmapped_requirements() -> dict[str, list[Requirement]]:
    """Shipped requirements no mapping rule reaches, per framework: the coverage gaps reports must show."""
    return default_catalog().unmapped_requirements()
