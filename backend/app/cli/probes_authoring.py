"""`secureai probes import` and `secureai probes generate`: a user's own tests as probe packs.

`import` turns a prompt dataset (CSV or JSON lines) into a pack; `generate` has the attacker model write prompts
for a policy or an application's purpose. Both write one YAML pack (atomically, never over a file without
--force) that validates as a user pack, and print what they did. docs/probe-datasets.md documents both.
"""

from __future__ import annotations

import asyncio
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from app.cli.output import ExitCode, console, err_console, fail, print_json
from app.engine.probes.generate import (
    DEFAULT_CATEGORIES,
    MAX_COUNT,
    MAX_TEXT_CHARS,
    GenerationError,
    GenerationResult,
    generate,
)
from app.engine.probes.importers import (
    PRESETS,
    ColumnMapping,
    DatasetError,
    check_output,
    check_pack_name,
    custom_mapping,
    import_dataset,
    render_pack,
    write_pack,
)
from app.engine.probes.schema import OwaspId, Severity

MappingName = Literal["custom", "harmbench", "advbench", "jailbreakbench"]
DatasetFormat = Literal["csv", "jsonl"]
_SUFFIX_FORMATS: dict[str, DatasetFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_OWASP_IDS: tuple[str, ...] = typing.get_args(OwaspId)


def _mapping(
    name: str, prompt: str | None, category: str | None, id_column: str | None, goal: str | None
) -> ColumnMapping:
    given = [
        option
        for option, value in (
            ("--prompt-column", prompt),
            ("--category-column", category),
            ("--id-column", id_column),
            ("--goal-column", goal),
        )
        if value is not None
    ]
    if name != "custom":
        if given:
            raise DatasetError(f"{', '.join(given)} only apply to --mapping custom; {name} has fixed columns")
        return PRESETS[name]
    return custom_mapping(prompt or "prompt", category, id_column, goal)


def _format_of(path: Path, given: DatasetFormat | None) -> DatasetFormat:
    if given is not None:
        return given
    found = _SUFFIX_FORMATS.get(path.suffix.lower())
    if found is None:
        raise DatasetError(f"cannot tell the format of {path.name} from its name; pass --format csv or --format jsonl")
    return found


def _next_steps(output: Path, pack: str) -> str:
    directory = output.parent if str(output.parent) else Path()
    return (
        f"scan with: secureai scan -t TARGET --packs {directory} -p pack:{pack} --judge JUDGE "
        "(without a judge these probes end refused or unscored, never safe)"
    )


def probes_import(
    file: Annotated[
        Path, typer.Argument(help="The dataset: CSV with a header row, or JSON lines (one object a line).")
    ],
    pack: Annotated[str, typer.Option("--pack", help="Name of the new pack: lower-case letters, digits and _.")],
    dataset_format: Annotated[
        DatasetFormat | None, typer.Option("--format", help="csv or jsonl (default: from the file's extension).")
    ] = None,
    mapping: Annotated[
        MappingName,
        typer.Option(help="Column layout: a public dataset's (harmbench, advbench, jailbreakbench) or custom."),
    ] = "custom",
    prompt_column: Annotated[
        str | None, typer.Option(help="custom: the column holding the prompt (default: prompt).")
    ] = None,
    category_column: Annotated[
        str | None, typer.Option(help="custom: the column holding a category; one probe per category.")
    ] = None,
    id_column: Annotated[str | None, typer.Option(help="custom: a row id, named in the skipped-rows list.")] = None,
    goal_column: Annotated[
        str | None,
        typer.Option(help="custom: what the prompt tries to get (judge rubric); one probe per category and goal."),
    ] = None,
    severity: Annotated[Severity, typer.Option(help="Severity of every probe.")] = "high",
    owasp: Annotated[OwaspId, typer.Option(help="OWASP LLM category of every probe.")] = "LLM01",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Pack file (default: PACK.yaml).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")] = False,
    allow_leading_symbols: Annotated[
        bool,
        typer.Option(
            "--allow-leading-symbols",
            help="Accept CSV cells that start with = + - @ (refused by default: a spreadsheet runs them).",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Turn a prompt dataset into a probe pack of judge-decided probes, one per category (docs/probe-datasets.md).
    Exit codes: 0 written, 2 the dataset or an option is unusable (one line says why; nothing is written)."""
    target = output or Path(f"{pack}.yaml")
    try:
        check_pack_name(pack)
        check_output(target, pack, force=force)
        columns = _mapping(mapping, prompt_column, category_column, id_column, goal_column)
        fmt = _format_of(file, dataset_format)
        result = import_dataset(
            file,
            fmt=fmt,
            mapping=columns,
            pack=pack,
            severity=severity,
            owasp=owasp,
            allow_leading_symbols=allow_leading_symbols,
        )
        header = [
            f"Imported by `secureai probes import` from {file.name} (format {fmt}, mapping {columns.name}).",
            f"sha256 of the dataset: {result.sha256}",
            "Prompts are templates: braces from the dataset are written doubled ({{ and }}) and sent single.",
            "Review the prompts, rubrics and severities before relying on a scan; see docs/probe-datasets.md.",
        ]
        write_pack(render_pack(result.document, header), target, force=force)
    except DatasetError as error:
        fail(str(error), ExitCode.USAGE)
    summary = {**result.summary(), "output": str(target)}
    if json_output:
        print_json(summary)
        return
    skipped = sum(summary["skipped"].values())
    _say(
        f"read {result.rows} row(s) of {file.name}: {result.prompts} prompt(s) in {len(result.probes)} probe(s), "
        f"{skipped} row(s) skipped" + _reasons(summary["skipped"])
    )
    for line in summary["skipped_rows"]:
        _say(f"  skipped {line}")
    if skipped > len(summary["skipped_rows"]):
        _say(f"  ... and {skipped - len(summary['skipped_rows'])} more")
    for probe in summary["probes"]:
        _say(f"  {probe['id']}: {probe['prompts']} prompt(s)")
    _say(f"wrote {target}; {_next_steps(target, pack)}")


def _say(text: str) -> None:
    """One plain line on stdout: no Rich markup or highlighting, never wrapped (file names stay whole)."""
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _reasons(counts: dict[str, int]) -> str:
    return f" ({', '.join(f'{count} {reason}' for reason, count in counts.items())})" if counts else ""


def _categories(value: str | None) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_CATEGORIES
    chosen = tuple(dict.fromkeys(part.strip().upper() for part in value.split(",") if part.strip()))
    unknown = [part for part in chosen if part not in DEFAULT_CATEGORIES]
    if not chosen or unknown:
        raise DatasetError(
            f"--categories takes OWASP ids among {', '.join(DEFAULT_CATEGORIES)}; got {value!r}"
            + (" (LLM03, LLM04 and LLM08 cannot be tested from prompts alone)" if unknown else "")
        )
    return chosen


def _check_text(option: str, text: str) -> str:
    flat = " ".join(text.split())
    if not flat:
        raise DatasetError(f"{option} must not be empty")
    if len(flat) > MAX_TEXT_CHARS:
        raise DatasetError(f"{option} is {len(flat)} characters; keep it to {MAX_TEXT_CHARS} (one or two sentences)")
    return flat


def probes_generate(
    attacker: Annotated[
        str,
        typer.Option(help="The model that writes the prompts: a target file or TYPE:MODEL\\[@BASE_URL], as for scan."),
    ],
    pack: Annotated[str, typer.Option("--pack", help="Name of the new pack: lower-case letters, digits and _.")],
    policy: Annotated[
        str | None, typer.Option(help="A rule the assistant must keep, in plain language: 'never quote prices'.")
    ] = None,
    purpose: Annotated[
        str | None,
        typer.Option(help="What the application is for; prompts are written per OWASP category (--categories)."),
    ] = None,
    count: Annotated[
        int, typer.Option(min=1, max=MAX_COUNT, help="Prompts for the policy, or per category with --purpose.")
    ] = 10,
    categories: Annotated[
        str | None,
        typer.Option(help=f"--purpose: comma-separated OWASP ids (default: {','.join(DEFAULT_CATEGORIES)})."),
    ] = None,
    severity: Annotated[Severity, typer.Option(help="Severity of every probe.")] = "medium",
    owasp: Annotated[
        OwaspId | None, typer.Option(help="--policy: OWASP LLM category of the probe (default LLM01).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Pack file (default: PACK.yaml).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the output file if it exists.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Have the attacker model write test prompts for a policy or an application's purpose, as a pack of
    judge-decided probes to review before use (docs/probe-datasets.md). Exit codes: 0 written, 1 the attacker
    gave no usable prompts, 2 usage error, 3 the attacker could not be reached or failed."""
    from app.engine.targets import TargetConfigError, build_connector, load_target_config
    from app.engine.targets.errors import TargetError

    target = output or Path(f"{pack}.yaml")
    try:
        if (policy is None) == (purpose is None):
            raise DatasetError("give exactly one of --policy TEXT or --purpose TEXT")
        if policy is not None and categories is not None:
            raise DatasetError("--categories applies to --purpose; a policy is one probe")
        if purpose is not None and owasp is not None:
            raise DatasetError("--owasp applies to --policy; with --purpose each probe has its category's id")
        mode: Literal["policy", "purpose"] = "policy" if policy is not None else "purpose"
        text = _check_text(f"--{mode}", policy if policy is not None else purpose or "")
        chosen = _categories(categories)
        check_pack_name(pack)
        check_output(target, pack, force=force)
        config = load_target_config(attacker, {})
        connector = build_connector(config)
    except (DatasetError, TargetConfigError) as error:
        fail(str(error), ExitCode.USAGE)

    async def run() -> GenerationResult:
        try:
            return await generate(
                connector,
                mode=mode,
                text=text,
                count=count,
                pack=pack,
                severity=severity,
                owasp=owasp or "LLM01",
                categories=chosen,
                on_batch=None if json_output else _batch_progress,
            )
        finally:
            await connector.aclose()

    try:
        result = asyncio.run(run())
        header = [
            f"Generated by `secureai probes generate` with the attacker model {config.label}, for the {mode}:",
            f"  {text}",
            "A MODEL WROTE THESE PROMPTS: read every prompt and rubric before use. Delete prompts that miss the",
            "point, fix rubrics that judge the wrong thing, then remove the needs_review tag (docs/probe-datasets.md).",
            "Prompts are templates: braces are written doubled ({{ and }}) and sent single.",
        ]
        write_pack(render_pack(result.document, header), target, force=force)
    except TargetError as error:
        fail(f"attacker {config.label}: {error}", ExitCode.UNREACHABLE)
    except GenerationError as error:
        fail(f"attacker {config.label}: {error}", ExitCode.FAILED)
    except DatasetError as error:
        fail(str(error), ExitCode.USAGE)
    _print_generated(result, target, json_output=json_output)


def _batch_progress(group: str, kept: int, wanted: int) -> None:
    """One line per attacker request on stderr, so a long generation shows it is moving."""
    err_console.print(f"  {group}: {kept} of {wanted} prompt(s)", highlight=False)


def _print_generated(result: GenerationResult, target: Path, *, json_output: bool) -> None:
    summary: dict[str, Any] = result.summary()
    if json_output:
        print_json({**summary, "output": str(target), "needs_review": True})
        return
    dropped = []
    if result.duplicates:
        dropped.append(f"{result.duplicates} duplicate(s)")
    if result.unusable:
        dropped.append(f"{result.unusable} empty or unreadable")
    _say(
        f"{result.prompts} prompt(s) in {len(result.probes)} probe(s) (asked for {result.asked}"
        + (f"; dropped {', '.join(dropped)}" if dropped else "")
        + f"), {result.requests} attacker request(s)"
    )
    for probe_id, prompts in result.probes:
        _say(f"  {probe_id}: {prompts} prompt(s)")
    _say(
        f"wrote {target}. A model wrote these prompts: read every prompt and rubric before use, then remove the "
        "needs_review tag."
    )
    _say(_next_steps(target, result.document["pack"]))


def register(app: typer.Typer) -> None:
    """Add `import` and `generate` to the `secureai probes` command group."""
    app.command("import")(probes_import)
    app.command("generate")(probes_generate)
