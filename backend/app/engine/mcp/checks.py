"""Checks of what MCP servers offer a model: their tools, prompts and resources as listed (no SDK needed here).

A model reads every tool description of every connected server as instructions, whether the user ever sees them
or not, so what a server lists is an attack surface of its own:

- `mcp.tool_poisoning`: hidden instructions in a description (an `<IMPORTANT>` block telling the model to read
  ~/.ssh/id_rsa and pass it as an argument, "do not tell the user", an HTML comment, text hidden in Unicode tag
  characters);
- `mcp.invisible_characters`: zero-width, bidirectional-control and tag characters, which show nothing to the
  person approving the tool and everything to the model;
- `mcp.tool_shadowing`: with several servers, a description that gives orders about another server's tool, or a
  tool that takes another server's tool name;
- `mcp.overbroad_schema`: arguments that accept anything (free-form commands or code, unrestricted paths and
  URLs, untyped values, any extra argument);
- `mcp.rug_pull`: a tool, prompt or resource whose description or schema changed between two listings (what was
  approved is not what runs), or one that appeared later.

Each check judges every item it applies to, so its result is a rate (items affected / items checked) like a
probe's attack success rate, and every judgement is an `AttemptRecord`: the findings join the scan result model,
its scoring and every report format.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from app.engine.model import AttemptRecord, Outcome, Verdict
from app.engine.scoring import ProbeInfo

Kind = Literal["tool", "prompt", "resource"]


@dataclass(frozen=True)
class McpItem:
    """One tool, prompt or resource as a server listed it."""

    kind: Kind
    name: str
    description: str = ""
    #: a tool's input JSON schema, a prompt's arguments (as {"arguments": [...]}), None for a resource
    schema: dict[str, Any] | None = None
    #: a resource's URI (its name is the human label)
    uri: str = ""
    title: str = ""

    def fingerprint(self) -> str:
        """What must not change between listings: the description, title, URI and schema."""
        return json.dumps([self.description, self.title, self.uri, self.schema], sort_keys=True, default=str)


@dataclass
class ServerListing:
    """What one server offered, once per listing (the first listing is what a user approves)."""

    label: str
    transport: str
    server_name: str | None = None
    server_version: str | None = None
    instructions: str = ""
    listings: list[tuple[McpItem, ...]] = field(default_factory=list)
    #: the listing a user approved earlier (a previous scan's result, `--baseline`): the rug-pull reference
    baseline: tuple[McpItem, ...] | None = None

    def versions(self) -> list[McpItem]:
        """Every distinct version of every item across the listings, in the order first seen."""
        seen: dict[tuple[str, str, str], McpItem] = {}
        for listing in self.listings:
            for item in listing:
                seen.setdefault((item.kind, item.name, item.fingerprint()), item)
        return list(seen.values())


@dataclass(frozen=True)
class CheckInfo:
    """A check as the reports show it (a probe of the `mcp` pack)."""

    owasp: str
    severity: str
    title: str
    remediation: str


CHECKS: dict[str, CheckInfo] = {
    "mcp.tool_poisoning": CheckInfo(
        "LLM01",
        "critical",
        "MCP description carries hidden instructions (tool poisoning)",
        "Remove the server or the item; descriptions should say what a tool does, never tell the model what to do "
        "with other data, files or tools, nor to keep anything from the user.",
    ),
    "mcp.invisible_characters": CheckInfo(
        "LLM01",
        "high",
        "MCP description holds invisible or bidirectional characters",
        "Reject descriptions with zero-width, bidirectional-control or tag characters; review the decoded text.",
    ),
    "mcp.tool_shadowing": CheckInfo(
        "LLM03",
        "high",
        "MCP tool shadows another server's tool",
        "Do not connect servers that redefine or give orders about each other's tools; give each tool a "
        "server-qualified name in the host.",
    ),
    "mcp.overbroad_schema": CheckInfo(
        "LLM06",
        "medium",
        "MCP tool accepts over-broad arguments",
        "Constrain arguments: enums or patterns for commands, allowed roots for paths, allowed hosts for URLs, a "
        "type for every argument and additionalProperties: false.",
    ),
    "mcp.rug_pull": CheckInfo(
        "LLM03",
        "high",
        "MCP server changed an item after it was listed (rug pull)",
        "Pin the descriptions and schemas a user approved (hash them) and refuse a server whose listing changes.",
    ),
}


def check_infos() -> dict[str, ProbeInfo]:
    """What scoring needs of each check."""
    return {check: ProbeInfo(info.owasp, info.severity, info.title) for check, info in CHECKS.items()}


# --- invisible characters

#: Characters that render as nothing (or reorder what is shown) but reach the model.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)


def visible(text: str) -> str:
    """`text` with every invisible character written as <U+XXXX> (what a report can show safely)."""
    return _INVISIBLE.sub(lambda match: f"<U+{ord(match.group()):04X}>", text)


def tag_text(text: str) -> str:
    """The ASCII text hidden in Unicode tag characters (U+E0020-U+E007E), which no font draws."""
    return "".join(chr(ord(char) - 0xE0000) for char in text if 0xE0020 <= ord(char) <= 0xE007E)


# --- hidden instructions

#: (pattern, what it is). Case-insensitive, over the description with tag-hidden text appended.
_HIDDEN: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE | re.DOTALL), reason)
    for pattern, reason in (
        (r"<\s*(important|system|instructions?|admin|secret|hidden|critical)\b[^>]*>", "an instruction block tag"),
        (r"<!--.*?-->", "an HTML comment (hidden when rendered)"),
        (
            r"\b(ignore|disregard|forget|override)\b.{0,40}\b(previous|prior|above|earlier|other|all)\b.{0,20}"
            r"\b(instructions?|rules?|guidelines?|prompts?)",
            "an order to ignore instructions",
        ),
        (
            r"\b(do\s*n[o']t|never|must\s+not|should\s+not)\b.{0,30}\b(tell|inform|mention|notify|alert|show|reveal)"
            r"\b.{0,30}\b(the\s+)?user",
            "an order to keep something from the user",
        ),
        (r"\bwithout\s+(telling|informing|asking|notifying)\s+(the\s+)?user", "an order to act behind the user"),
        (
            r"\b(before|prior\s+to|after)\s+(using|calling|running|invoking)\s+(this|any|the)\b.{0,80}\b(read|call|send"
            r"|include|pass|fetch|open|cat|upload)\b",
            "a precondition that makes the model act first",
        ),
        (
            r"(~|\$home|/home/[^/\s]+|/root|%userprofile%)/?[\\/]?\.(ssh|aws|gnupg|config|kube|docker|netrc|env)\b"
            r"|\bid_(rsa|ed25519|ecdsa)\b|\.env\b|credentials\.json|mcp\.json",
            "a reference to secrets on disk",
        ),
        (
            r"\b(pass|send|include|put|append|add|attach)\b.{0,40}\b(its|their|the|file'?s?)\s+(contents?|text|"
            r"data)\b.{0,40}\b(as|in|into|to)\b",
            "an order to move data into a tool argument",
        ),
        (
            r"\b(system\s+prompt|conversation\s+history|chat\s+history|previous\s+messages)\b",
            "a reference to the model's context",
        ),
        (r"\b(secretly|silently|quietly|covertly)\b", "an order to act covertly"),
    )
)


def hidden_instructions(text: str) -> list[tuple[str, str]]:
    """(matched text, what it is) for every hidden-instruction pattern in `text` (and in its tag-hidden text)."""
    hidden = tag_text(text)
    combined = f"{text}\n{hidden}" if hidden else text
    found: list[tuple[str, str]] = []
    for pattern, reason in _HIDDEN:
        match = pattern.search(combined)
        if match:
            found.append((" ".join(match.group().split())[:200], reason))
    if hidden:
        found.append((hidden[:200], "text hidden in Unicode tag characters"))
    return found


# --- over-broad schemas

_COMMAND_NAMES = re.compile(r"^(command|cmd|shell|script|code|sql|query|exec|eval|expression|program|bash)s?$", re.I)
_PATH_NAMES = re.compile(
    r"^(path|file|filename|file_path|filepath|dir|directory|folder|url|uri|endpoint|target)s?$", re.I
)
_CONSTRAINTS = ("enum", "const", "pattern", "format", "maxLength")


def schema_problems(schema: dict[str, Any] | None) -> list[str]:
    """Why a tool's input schema accepts more than a tool should (empty when it is constrained enough)."""
    if schema is None:
        return ["no input schema: any arguments are accepted"]
    problems: list[str] = []
    extra = schema.get("additionalProperties")
    if extra is True or (isinstance(extra, dict) and not extra):
        problems.append("additionalProperties accepts any extra argument")
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return problems
    for name, spec in properties.items():
        if not isinstance(spec, dict):
            continue
        types = spec.get("type")
        if types is None and not any(key in spec for key in ("enum", "const", "anyOf", "oneOf", "allOf", "$ref")):
            problems.append(f"argument {name!r} has no type (any JSON value)")
            continue
        if types != "string" or any(key in spec for key in _CONSTRAINTS):
            continue
        if _COMMAND_NAMES.match(name):
            problems.append(f"argument {name!r} takes a free-form command or code (no enum or pattern)")
        elif _PATH_NAMES.match(name):
            problems.append(f"argument {name!r} takes any path or URL (no pattern or allowed values)")
    return problems


# --- the checks, as attempt records


def _record(
    check: str, server: ServerListing, item: McpItem, fired: list[tuple[str, str]], index: int, shown: str
) -> AttemptRecord:
    """One judgement: `fired` holds (evidence, explanation) pairs; none means the item passed this check."""
    verdicts = tuple(
        Verdict(detector=check, fired=True, score=1.0, evidence=evidence, explanation=why) for evidence, why in fired
    ) or (Verdict(detector=check, fired=False, explanation="nothing found"),)
    return AttemptRecord(
        key=f"{check}:{server.label}:{item.kind}:{item.name}:{index}",
        probe_id=check,
        prompt_index=index,
        strategies=(),
        repeat=0,
        outcome=Outcome.VULNERABLE if fired else Outcome.SAFE,
        turns=(f"{item.kind} {item.name!r} of MCP server {server.label}",),
        response=shown,
        verdicts=verdicts,
        extra={"mcp.server": server.label, "mcp.kind": item.kind, "mcp.item": item.name},
    )


def _texts(item: McpItem) -> str:
    """Everything of an item a model reads: title, description, and the descriptions inside its schema."""
    parts = [item.title, item.description]
    parts.extend(_schema_strings(item.schema))
    return "\n".join(part for part in parts if part)


def _schema_strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("description", "title") and isinstance(inner, str):
                yield inner
            else:
                yield from _schema_strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _schema_strings(inner)


def check_servers(servers: Iterable[ServerListing]) -> list[AttemptRecord]:
    """Every check over every server; shadowing only when there are two servers or more."""
    servers = list(servers)
    records: list[AttemptRecord] = []
    index = 0
    for server in servers:
        for item in server.versions():
            text = _texts(item)
            shown = visible(text)
            records.append(_record("mcp.tool_poisoning", server, item, hidden_instructions(text), index, shown))
            invisible = sorted(
                {f"U+{ord(char):04X} {unicodedata.name(char, '?')}" for char in _INVISIBLE.findall(text)}
            )
            fired = (
                [(", ".join(invisible[:8]), f"{len(invisible)} kind(s) of invisible character")] if invisible else []
            )
            records.append(_record("mcp.invisible_characters", server, item, fired, index, shown))
            if item.kind == "tool":
                problems = schema_problems(item.schema)
                schema_text = json.dumps(item.schema, sort_keys=True)
                fired = [(problem, "over-broad input schema") for problem in problems]
                records.append(_record("mcp.overbroad_schema", server, item, fired, index, schema_text))
            index += 1
        records.extend(_rug_pull(server, index))
        index += len(server.versions())
    if len(servers) > 1:
        records.extend(_shadowing(servers, index))
    return records


def _rug_pull(server: ServerListing, start: int) -> Iterator[AttemptRecord]:
    """Each item against the approved listing (the baseline, else the first): changed in a later listing, or
    added after it (one that disappears is no danger of its own and passes)."""
    reference = server.baseline if server.baseline is not None else (server.listings[0] if server.listings else ())
    compared = server.listings if server.baseline is not None else server.listings[1:]
    if not compared:
        return
    since = "since the baseline" if server.baseline is not None else "since the first listing"
    first: dict[tuple[str, str], McpItem] = {(item.kind, item.name): item for item in reference}
    index = start
    later: dict[tuple[str, str], McpItem] = {}
    changes: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for number, listing in enumerate(compared, start=len(server.listings) - len(compared) + 1):
        for item in listing:
            key: tuple[str, str] = (item.kind, item.name)
            later.setdefault(key, item)
            before = first.get(key)
            if before is None:
                changes.setdefault(key, []).append((item.name, f"appeared in listing {number}, {since}"))
            elif before.fingerprint() != item.fingerprint():
                changes.setdefault(key, []).append(
                    (
                        visible(item.description)[:300],
                        f"changed in listing {number} {since}: {_what_changed(before, item)}",
                    )
                )
    for name in sorted({*first, *later}):
        item = later.get(name) or first[name]
        fired = list(dict.fromkeys(changes.get(name, [])))
        shown = visible(item.description)
        if name in first and name in later and fired:
            shown = f"approved: {visible(first[name].description)}\nlater listing: {shown}"
        yield _record("mcp.rug_pull", server, item, fired, index, shown)
        index += 1


def _what_changed(before: McpItem, after: McpItem) -> str:
    parts = [
        name
        for name, old, new in (
            ("description", before.description, after.description),
            ("title", before.title, after.title),
            ("uri", before.uri, after.uri),
            ("schema", json.dumps(before.schema, sort_keys=True), json.dumps(after.schema, sort_keys=True)),
        )
        if old != new
    ]
    return ", ".join(parts)


def item_json(item: McpItem) -> dict[str, Any]:
    """An item as the result document keeps it (what a later scan's `--baseline` compares with)."""
    return {
        "kind": item.kind,
        "name": item.name,
        "title": item.title,
        "description": item.description,
        "uri": item.uri,
        "schema": item.schema,
    }


def item_of(data: Any) -> McpItem:
    """An item from `item_json`'s form; ValueError when it is not one."""
    if not isinstance(data, dict) or data.get("kind") not in ("tool", "prompt", "resource"):
        raise ValueError("an item needs a kind (tool, prompt or resource)")
    schema = data.get("schema")
    if not isinstance(data.get("name"), str) or (schema is not None and not isinstance(schema, dict)):
        raise ValueError("an item needs a name and an object schema (or none)")
    return McpItem(
        kind=data["kind"],
        name=data["name"],
        description=str(data.get("description") or ""),
        schema=schema,
        uri=str(data.get("uri") or ""),
        title=str(data.get("title") or ""),
    )


def _shadowing(servers: list[ServerListing], start: int) -> Iterator[AttemptRecord]:
    """A tool named like another server's tool, or whose text names another server's tool."""
    owners: dict[str, set[str]] = {}
    for server in servers:
        for item in server.versions():
            if item.kind == "tool":
                owners.setdefault(item.name, set()).add(server.label)
    index = start
    for server in servers:
        for item in server.versions():
            if item.kind != "tool":
                continue
            fired: list[tuple[str, str]] = []
            others = sorted(owners[item.name] - {server.label})
            if others:
                fired.append((item.name, f"the same tool name is offered by {', '.join(others)}"))
            text = _texts(item)
            for name, labels in sorted(owners.items()):
                foreign = sorted(labels - {server.label})
                if name == item.name or not foreign or len(name) < 3:
                    continue
                match = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)
                if match:
                    around = text[max(0, match.start() - 80) : match.end() + 80]
                    fired.append((" ".join(visible(around).split()), f"names {name!r}, a tool of {', '.join(foreign)}"))
            yield _record("mcp.tool_shadowing", server, item, fired, index, visible(text))
            index += 1
