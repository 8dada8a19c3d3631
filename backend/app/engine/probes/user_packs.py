"""User probe packs: YAML a user writes, checked against the pack schema with errors that say file, line and field.

Shipped packs are tested with the code; a user's pack is not, so every problem in one is reported the way a
compiler would: ``mypack.yaml:14: probes[2].detectors[0].pattern: regex pattern '(' does not compile: ...``,
one line per problem. The line comes from the YAML node of the offending field (the nearest enclosing node
when the field is missing). Input is hostile until checked: size, encoding, alias expansion and nesting depth
are bounded before pydantic sees it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import PrivateAttr, ValidationError

from app.core.yaml_loader import StrictYamlLoader
from app.engine.probes.registry import ProbePackError, extra_probes, shipped_packs
from app.engine.probes.schema import Pack, Probe

__all__ = [
    "MAX_EXPANDED_VALUES",
    "MAX_PACK_BYTES",
    "MAX_PROBLEMS",
    "PACK_SUFFIXES",
    "PackProblem",
    "PackValidationError",
    "UserPack",
    "load_pack_dirs",
    "merge_catalogue",
    "pack_digest",
    "pack_files",
    "pack_json_schema",
    "parse_pack_bytes",
    "parse_pack_file",
    "parse_pack_text",
    "using_packs",
]

#: Largest pack accepted (encoded as UTF-8). The largest shipped pack is well under a tenth of this.
MAX_PACK_BYTES = 2 * 1024 * 1024
#: Most YAML values a pack may hold once aliases are expanded: more than a pack of MAX_PACK_BYTES can spell out
#: without aliases (two characters a value, `a,`), so only aliases multiplying aliases ("billion laughs") hit it.
MAX_EXPANDED_VALUES = MAX_PACK_BYTES // 2
PACK_SUFFIXES: tuple[str, ...] = (".yaml", ".yml")
#: Most problems reported for one pack; a pack with more is better fixed from the top.
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class PackProblem:
    """One problem in a pack: where (source, 1-based line, field path) and what."""

    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.source, "line": self.line, "field": self.field, "message": self.message}


class PackValidationError(ProbePackError):
    """One or more problems in user packs; ``str()`` is one line per problem."""

    def __init__(self, problems: Sequence[PackProblem]) -> None:
        self.problems: tuple[PackProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def _one(source: str, line: int | None, message: str, field: str = "") -> PackValidationError:
    return PackValidationError([PackProblem(source, line, field, message)])


class UserPack(Pack):
    """A pack loaded from a user's file or upload; knows where it came from and the digest of its text."""

    _source: str = PrivateAttr(default="")
    _digest: str = PrivateAttr(default="")
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @property
    def source(self) -> str:
        """The file (or upload name) the pack was read from."""
        return self._source

    @property
    def digest(self) -> str:
        """sha256 of the pack's text: which exact version of the pack a scan ran."""
        return self._digest

    def line_of(self, probe_id: str) -> int | None:
        """The line of ``probe_id``'s ``id`` field in the source."""
        return self._lines.get(probe_id)

    def record(self) -> dict[str, Any]:
        """What a scan result records of the pack: name, version, digest and source."""
        return {"name": self.pack, "version": self.version, "sha256": self.digest, "source": self.source}


def pack_digest(pack_text: str) -> str:
    """sha256 (hex) of a pack's text, as UTF-8."""
    return hashlib.sha256(pack_text.encode("utf-8")).hexdigest()


def pack_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one pack file, with the models' descriptions.

    Pydantic's schema of :class:`Pack`, plus what the loader also accepts: a detector that takes no settings
    may be written as its bare name (``- marker`` for ``- name: marker``).
    """
    schema = Pack.model_json_schema()
    defs = schema["$defs"]
    detectors = defs["Probe"]["properties"]["detectors"]
    mapping: dict[str, str] = detectors["items"]["discriminator"]["mapping"]
    bare = sorted(name for name, ref in mapping.items() if not defs[ref.rsplit("/", 1)[-1]].get("required"))
    detectors["items"] = {
        "anyOf": [
            {"type": "string", "enum": bare, "description": "A detector without settings, by name."},
            detectors["items"],
        ]
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# --- locating a pydantic error in the YAML --------------------------------------------------------------


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _key(node: yaml.MappingNode, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == name:
            return key, value
    return None


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def _locate(root: yaml.Node, loc: Sequence[str | int]) -> tuple[int, str]:
    """The line and the readable field path (``probes[2].detectors[0].pattern``) of a pydantic location."""
    node, line, path = root, _line(root), ""
    for index, part in enumerate(loc):
        if part == "[key]":
            continue
        if isinstance(part, int) and isinstance(node, yaml.SequenceNode) and 0 <= part < len(node.value):
            node = node.value[part]
            line, path = _line(node), _join(path, part)
            continue
        if isinstance(part, str) and isinstance(node, yaml.MappingNode) and (pair := _key(node, part)):
            key, value = pair
            line, path = _line(key), _join(path, part)
            node = value
            continue
        # a missing field (or one pydantic names beyond what the YAML holds): name it, keep the enclosing line
        path = _join(path, part)
        for rest in loc[index + 1 :]:
            if rest != "[key]":
                path = _join(path, rest)
        break
    return line, path


_Refine = tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[str | int, ...]]], ...]
#: Cross-field rules report at the model that holds the fields; these send the reader to the field itself.
#: Rules of one detector (its location is probes[i].detectors[j]):
_DETECTOR_FIELDS: _Refine = (
    (re.compile(r"^regex pattern "), lambda m: ("pattern",)),
    (re.compile(r"^arguments_pattern "), lambda m: ("arguments_pattern",)),
    (re.compile(r"^min_matches="), lambda m: ("min_matches",)),
    (re.compile(r"^detector '[a-z_]+' (max_score_gap|score_range|decisions)\b"), lambda m: (m.group(1),)),
)
#: Rules of one probe (its location is probes[i]):
_PROBE_FIELDS: _Refine = (
    (re.compile(r"^slot name '([^']+)'"), lambda m: ("slots", m.group(1), "[key]")),
    (re.compile(r"^slot '([^']+)'"), lambda m: ("slots", m.group(1))),
    (re.compile(r"^combine: zip"), lambda m: ("combine",)),
    (re.compile(r"^prompts x slot combinations"), lambda m: ("slots",)),
    (re.compile(r"pair_slot"), lambda m: ("pair_slot",)),
    (re.compile(r"may not appear in the (goal|rubric)"), lambda m: (m.group(1),)),
    (re.compile(r"^detector '[a-z_]+' is only for kind|^a [a-z_]+ probe is decided by"), lambda m: ("kind",)),
    (re.compile(r"^a [a-z_]+ probe sends single prompts"), lambda m: ("turns",)),
    (re.compile(r"^tool names must be unique"), lambda m: ("tools",)),
    (re.compile(r"^detector |^a probe needs a deterministic detector"), lambda m: ("detectors",)),
)
_DUPLICATE_ID = re.compile(r"^duplicate probe id '([^']+)'")


def _message(item: Mapping[str, Any]) -> str:
    error = (item.get("ctx") or {}).get("error")
    if item["type"] == "value_error" and error is not None:
        return str(error)
    return str(item["msg"])


def _duplicate_location(root: yaml.Node, probe_id: str) -> tuple[str | int, ...]:
    """The second probe with ``probe_id`` (the first is the definition it repeats)."""
    probes = _key(root, "probes") if isinstance(root, yaml.MappingNode) else None
    if probes is None or not isinstance(probes[1], yaml.SequenceNode):
        return ()
    seen = False
    for index, item in enumerate(probes[1].value):
        pair = _key(item, "id") if isinstance(item, yaml.MappingNode) else None
        if pair is not None and isinstance(pair[1], yaml.ScalarNode) and pair[1].value == probe_id:
            if seen:
                return ("probes", index, "id")
            seen = True
    return ()


def _refine(loc: tuple[str | int, ...], message: str) -> tuple[str | int, ...]:
    """The field inside the model at ``loc`` that a cross-field ``message`` is about, if it names one."""
    if len(loc) == 2 and loc[0] == "probes":
        rules = _PROBE_FIELDS
    elif len(loc) in (4, 5) and loc[0] == "probes" and loc[2] == "detectors":
        rules = _DETECTOR_FIELDS
    else:
        return ()
    return next((refine(match) for pattern, refine in rules if (match := pattern.search(message))), ())


def _problems(error: ValidationError, root: yaml.Node, source: str) -> list[PackProblem]:
    problems: list[PackProblem] = []
    items = error.errors()
    for item in items:
        loc: tuple[str | int, ...] = tuple(item["loc"])
        if item["type"] == "too_short" and any(
            len(other["loc"]) > len(loc) and other["loc"][: len(loc)] == loc for other in items
        ):
            continue  # pydantic counts only the valid items: "at least 1 item" would repeat the problems below it
        message = _message(item)
        if item["type"] == "model_type" and not loc:
            message = "a pack is a mapping with the keys pack, title, version and probes"
        if item["type"] == "value_error":
            duplicate = _DUPLICATE_ID.match(message)
            if duplicate and not loc:
                loc = _duplicate_location(root, duplicate.group(1))
            else:
                loc += _refine(loc, message)
        line, path = _locate(root, loc)
        problems.append(PackProblem(source, line, path or "(top level)", message))
    if len(problems) > MAX_PROBLEMS:
        hidden = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], PackProblem(source, None, "", f"{hidden} more problem(s) not shown")]
    return problems


# --- parsing --------------------------------------------------------------------------------------------


def _expanded_size(root: yaml.Node) -> int:
    """How many values the document holds once aliases are expanded (shared nodes counted once per use)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a recursive alias counts once instead of looping
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(key) + size(value) for key, value in node.value)
        total = min(total, MAX_EXPANDED_VALUES + 1)
        sizes[id(node)] = total
        return total

    return size(root)


def _compose(text: str, source: str) -> tuple[yaml.Node, Any]:
    """The document's node tree (for line numbers) and its data, or the YAML problem with its line."""
    try:
        # without libyaml, PyYAML's own reader checks the characters here (a NUL is a ReaderError)
        loader = StrictYamlLoader(text)
    except yaml.YAMLError as exc:
        raise _one(source, None, f"invalid YAML: {exc}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise _one(source, None, "the file is empty; a pack is a mapping of pack, title, version, probes")
        if _expanded_size(node) > MAX_EXPANDED_VALUES:
            message = f"the YAML expands to more than {MAX_EXPANDED_VALUES:,} values: aliases repeat aliases"
            raise _one(source, _line(node), message)
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        line = int(mark.line) + 1 if mark is not None else None
        raise _one(source, line, f"invalid YAML: {detail}") from None
    except yaml.YAMLError as exc:
        raise _one(source, None, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise _one(source, None, "the YAML is nested too deeply") from None
    finally:
        loader.dispose()


def _too_large(source: str, size: int) -> PackValidationError:
    return _one(source, None, f"the pack is {size:,} bytes; a pack may be at most {MAX_PACK_BYTES:,} bytes")


def _parse(text: str, source: str, stem: str | None) -> UserPack:
    if len(text) > MAX_PACK_BYTES:  # each character is at least one byte: no need to encode a huge text
        raise _too_large(source, len(text.encode("utf-8", "surrogatepass")))
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:  # a lone surrogate, e.g. from a JSON string
        line = text.count("\n", 0, exc.start) + 1
        raise _one(source, line, "not UTF-8 text (a lone surrogate character)") from None
    if size > MAX_PACK_BYTES:
        raise _too_large(source, size)
    root, data = _compose(text, source)
    try:
        pack = UserPack.model_validate(data)
    except ValidationError as exc:
        raise PackValidationError(_problems(exc, root, source)) from None
    except RecursionError:
        raise _one(source, None, "the YAML is nested too deeply") from None
    if stem is not None and pack.pack != stem:
        line, _ = _locate(root, ("pack",))
        raise _one(source, line, f"pack name {pack.pack!r} must equal the file name {stem!r}", "pack")
    pack._source = source
    pack._digest = pack_digest(text)
    for index, probe in enumerate(pack.probes):
        pack._lines[probe.id] = _locate(root, ("probes", index, "id"))[0]
    return pack


def parse_pack_text(text: str, source: str) -> UserPack:
    """Validate the YAML text of one pack; ``source`` names it in every error (a file name, an upload's name)."""
    return _parse(text, source, None)


def parse_pack_bytes(data: bytes, source: str) -> UserPack:
    """Like :func:`parse_pack_text` for raw bytes (an upload): too large or not UTF-8 is a clear error."""
    if len(data) > MAX_PACK_BYTES:
        raise _too_large(source, len(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the pack as UTF-8"
        raise _one(source, line, message) from None
    return parse_pack_text(text, source)


def parse_pack_file(path: Path) -> UserPack:
    """One pack file; its ``pack`` name must equal the file name without extension, as for shipped packs."""
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_PACK_BYTES:
            raise _too_large(source, size)
        data = path.read_bytes()
    except OSError as exc:
        raise _one(source, None, f"cannot read: {exc.strerror or exc}") from None
    pack = parse_pack_bytes(data, source)
    if pack.pack != path.stem:
        text = data.decode("utf-8")
        return _parse(text, source, path.stem)  # raises, with the line of `pack:`
    return pack


def pack_files(directory: Path) -> list[Path]:
    """The pack files (``*.yaml``, ``*.yml``) directly in ``directory``, sorted by name."""
    return sorted(path for path in directory.iterdir() if path.suffix in PACK_SUFFIXES and path.is_file())


def load_pack_dirs(dirs: Sequence[Path]) -> list[UserPack]:
    """Every pack in each directory, in directory order then file name order; all problems in one error.

    A directory that does not exist, is not a directory or holds no pack is an error naming it.
    """
    problems: list[PackProblem] = []
    packs: list[UserPack] = []
    seen: set[Path] = set()
    for directory in dirs:
        if not directory.exists():
            problems.append(PackProblem(str(directory), None, "", "no such directory"))
            continue
        if not directory.is_dir():
            problems.append(PackProblem(str(directory), None, "", "not a directory (--packs takes a directory)"))
            continue
        if directory.resolve() in seen:
            continue
        seen.add(directory.resolve())
        files = pack_files(directory)
        if not files:
            problems.append(PackProblem(str(directory), None, "", "holds no probe pack (*.yaml, *.yml)"))
        for path in files:
            try:
                packs.append(parse_pack_file(path))
            except PackValidationError as exc:
                problems.extend(exc.problems)
    if problems:
        raise PackValidationError(problems)
    return packs


# --- the catalogue with user packs ----------------------------------------------------------------------


def _place(pack: Pack, probe_id: str | None = None) -> str:
    if isinstance(pack, UserPack):
        line = pack.line_of(probe_id) if probe_id else None
        where = f"{pack.source}:{line}" if line is not None else pack.source
        return f"user pack {pack.pack!r} ({where})"
    return f"shipped pack {pack.pack!r}"


def _problem_at(pack: Pack, field: str, message: str, probe_id: str | None = None) -> PackProblem:
    if isinstance(pack, UserPack):
        line = pack.line_of(probe_id) if probe_id else None
        return PackProblem(pack.source, line, field, message)
    return PackProblem(f"pack {pack.pack!r}", None, field, message)


def merge_catalogue(user_packs: Sequence[Pack]) -> list[Probe]:
    """The shipped probes, then the user packs' probes in the order given.

    A user pack named like a shipped pack or another user pack, or a probe id defined twice anywhere, is an
    error naming both places: findings, baselines and reports refer to probes by id and packs by name.
    """
    shipped = shipped_packs()
    problems: list[PackProblem] = []
    pack_owner: dict[str, Pack] = {pack.pack: pack for pack in shipped}
    probe_owner: dict[str, Pack] = {probe.id: pack for pack in shipped for probe in pack.probes}
    probes = [probe for pack in shipped for probe in pack.probes]
    for pack in user_packs:
        if pack.pack in pack_owner:
            other = _place(pack_owner[pack.pack])
            problems.append(_problem_at(pack, "pack", f"pack name {pack.pack!r} is already used by {other}"))
            continue
        pack_owner[pack.pack] = pack
        for index, probe in enumerate(pack.probes):
            if probe.id in probe_owner:
                other = _place(probe_owner[probe.id], probe.id)
                message = f"probe id {probe.id!r} is already defined in {other}"
                problems.append(_problem_at(pack, f"probes[{index}].id", message, probe.id))
                continue
            probe_owner[probe.id] = pack
            probes.append(probe)
    if problems:
        raise PackValidationError(problems)
    return probes


@contextmanager
def using_packs(user_packs: Sequence[Pack]) -> Iterator[list[Probe]]:
    """Within the block, the registry's catalogue (``load_probes``, ``get_probe``, ``select``) includes the user
    packs' probes, for this thread or asyncio task only; yields the merged catalogue."""
    catalogue = merge_catalogue(user_packs)
    with extra_probes([probe for pack in user_packs for probe in pack.probes]):
        yield catalogue
