"""Load, validate and select the shipped probe packs.

Packs are read once per process and cached; every loaded object is immutable, so sharing the cache
between scans is safe. A user's own packs (``user_packs.using_packs``) join the catalogue for one thread or
asyncio task only, through a context variable, so one scan's packs never show in another's. Selection specs
come from users (CLI, API), so every mistake in one is a ``ValueError`` with a one-line message that says what
was wrong.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from app.core.yaml_loader import load_strict_yaml
from app.engine.probes.schema import SEVERITY_RANK, Pack, Probe

__all__ = [
    "PACKS_DIR",
    "SELECTOR_KINDS",
    "ProbePackError",
    "extra_probes",
    "get_probe",
    "load_packs",
    "load_probes",
    "select",
    "shipped_packs",
]

PACKS_DIR: Path = Path(__file__).with_name("packs")
SELECTOR_KINDS: tuple[str, ...] = ("all", "id", "owasp", "pack", "severity", "tag")
_OWASP_ID = re.compile(r"LLM(?:0[1-9]|10)")


class ProbePackError(ValueError):
    """A pack file is unreadable, invalid, or clashes with another pack."""


def _summarise(error: ValidationError) -> str:
    """Pydantic's report on one line per problem, prefixed by where it is in the file."""
    parts = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        parts.append(f"{location}: {item['msg']}" if location else str(item["msg"]))
    return "; ".join(parts)


def _load_pack(path: Path) -> Pack:
    try:
        raw = load_strict_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProbePackError(f"{path.name}: cannot read pack: {exc}") from exc
    try:
        pack = Pack.model_validate(raw)
    except ValidationError as exc:
        raise ProbePackError(f"{path.name}: {_summarise(exc)}") from exc
    if pack.pack != path.stem:
        raise ProbePackError(f"{path.name}: pack name {pack.pack!r} must equal the file stem {path.stem!r}")
    return pack


def load_packs(directory: Path | None = None) -> list[Pack]:
    """Load every ``*.yaml`` pack in ``directory`` (default: the shipped packs), sorted by file name.

    Probe ids must be unique across all packs because findings, baselines and reports refer to them.
    """
    root = PACKS_DIR if directory is None else directory
    files = sorted(root.glob("*.yaml"))
    if not files:
        raise ProbePackError(f"no probe packs (*.yaml) found in {root}")
    packs: list[Pack] = []
    owner: dict[str, str] = {}
    for path in files:
        pack = _load_pack(path)
        for probe in pack.probes:
            if probe.id in owner:
                raise ProbePackError(f"{path.name}: probe id {probe.id!r} is already defined in {owner[probe.id]}")
            owner[probe.id] = path.name
        packs.append(pack)
    return packs


@functools.cache
def shipped_packs() -> tuple[Pack, ...]:
    """The shipped packs, loaded once per process."""
    return tuple(load_packs())


@dataclass(frozen=True)
class _Catalogue:
    probes: tuple[Probe, ...]
    by_id: dict[str, Probe]


@functools.cache
def _catalogue() -> _Catalogue:
    probes = tuple(probe for pack in shipped_packs() for probe in pack.probes)
    return _Catalogue(probes=probes, by_id={probe.id: probe for probe in probes})


#: Probes of user packs active in this context (see :func:`extra_probes`); checked for clashes by the caller.
_EXTRA: ContextVar[_Catalogue | None] = ContextVar("secureai_user_probes", default=None)


@contextmanager
def extra_probes(probes: Sequence[Probe]) -> Iterator[None]:
    """Within the block (this thread or asyncio task and the tasks it starts), ``load_probes``, ``get_probe``
    and ``select`` also see ``probes``, after the shipped ones. Use ``user_packs.using_packs``, which checks
    names and ids for clashes first."""
    token = _EXTRA.set(_Catalogue(tuple(probes), {probe.id: probe for probe in probes}))
    try:
        yield
    finally:
        _EXTRA.reset(token)


def load_probes() -> list[Probe]:
    """All probes: the shipped ones in pack-file order then file order (stable for reports and diffs), then
    those of the user packs active in this context."""
    extra = _EXTRA.get()
    return [*_catalogue().probes, *(extra.probes if extra else ())]


def get_probe(probe_id: str) -> Probe:
    """The probe with this id, shipped or from an active user pack; ``KeyError`` if there is none."""
    probe = _catalogue().by_id.get(probe_id)
    extra = _EXTRA.get()
    if probe is None and extra is not None:
        probe = extra.by_id.get(probe_id)
    if probe is None:
        raise KeyError(f"unknown probe id {probe_id!r}")
    return probe


def _tag_matches(wanted: str, tag: str) -> bool:
    """Exact, or a parent in the tag's hierarchy: ``atlas:AML.T0051`` covers ``atlas:AML.T0051.000``."""
    wanted, tag = wanted.lower(), tag.lower()
    return tag == wanted or tag.startswith((f"{wanted}.", f"{wanted}:"))


def _matcher(selector: str) -> Callable[[Probe], bool]:
    """Turn one ``kind:value`` selector into a predicate, or explain in one line why it is wrong."""
    if selector.lower() == "all":
        return lambda probe: True
    kind, sep, value = selector.partition(":")
    kind, value = kind.strip().lower(), value.strip()
    expected = ", ".join(SELECTOR_KINDS)
    if not sep:
        raise ValueError(f"bad probe selector {selector!r}: expected kind:value or 'all' (kinds: {expected})")
    if kind not in SELECTOR_KINDS or kind == "all":
        raise ValueError(f"unknown probe selector kind {kind!r} in {selector!r}; expected one of: {expected}")
    if not value:
        raise ValueError(f"probe selector {selector!r} has no value after the colon")
    if kind == "owasp":
        owasp = value.upper()
        if not _OWASP_ID.fullmatch(owasp):
            raise ValueError(f"unknown OWASP id {value!r} in {selector!r}; expected LLM01..LLM10")
        return lambda probe: probe.owasp == owasp
    if kind == "severity":
        level = value.lower()
        if level not in SEVERITY_RANK:
            levels = ", ".join(sorted(SEVERITY_RANK, key=SEVERITY_RANK.__getitem__, reverse=True))
            raise ValueError(f"unknown severity {value!r} in {selector!r}; expected one of: {levels}")
        return lambda probe: SEVERITY_RANK[probe.severity] >= SEVERITY_RANK[level]
    if kind == "pack":
        return lambda probe: probe.pack == value
    if kind == "tag":
        return lambda probe: any(_tag_matches(value, tag) for tag in probe.tags)
    return lambda probe: fnmatch.fnmatchcase(probe.id, value)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def select(spec: str, probes: Sequence[Probe] | None = None) -> list[Probe]:
    """Probes matching ``spec``, in catalogue order.

    ``spec`` is a comma-separated list of selectors; the result is their union. Within one comma item,
    selectors joined by ``+`` are intersected, e.g. ``owasp:LLM01+severity:high``, and a selector after ``!``
    excludes what it matches, e.g. ``pack:jailbreak+!tag:templated``. Kinds: ``all``,
    ``owasp:LLM01``, ``tag:atlas:AML.T0051`` (parent tags cover their sub-tags), ``severity:high``
    (that level or worse), ``pack:prompt_injection``, ``id:pi.direct.ignore_previous`` (``*`` globs allowed).
    A selector that matches nothing is an error, because it is almost always a typo.
    """
    pool = load_probes() if probes is None else list(probes)
    items = [item.strip() for item in spec.split(",")]
    if not spec.strip() or not all(items):
        raise ValueError(f"empty probe selector in {spec!r}; give a comma-separated list such as 'owasp:LLM01'")
    chosen: set[str] = set()
    for item in items:
        parts = [part.strip() for part in item.split("+")]
        if not all(parts):
            raise ValueError(f"empty probe selector around '+' in {item!r}")
        matched: set[str] | None = None
        for part in _unique(parts):
            negated = part.startswith("!")
            positive = part[1:].strip() if negated else part
            if not positive:
                raise ValueError(f"empty probe selector after '!' in {item!r}")
            predicate = _matcher(positive)
            ids = {probe.id for probe in pool if predicate(probe)}
            if not ids:  # an exclusion that excludes nothing is as surely a typo as a selection of nothing
                raise ValueError(f"probe selector {positive!r} matches no probe")
            if negated:
                ids = {probe.id for probe in pool} - ids
            matched = ids if matched is None else matched & ids
        if not matched:
            raise ValueError(f"probe selector {item!r} matches no probe")
        chosen |= matched
    return [probe for probe in pool if probe.id in chosen]
