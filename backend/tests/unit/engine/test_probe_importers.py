"""Dataset import (`app.engine.probes.importers`): the presets' layouts, grouping, and hostile input.

Every dataset here is written by the test in a temporary directory; the rows are made up (none comes from the
public datasets whose column layouts the presets follow).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.engine.probes.importers import (
    PRESETS,
    DatasetError,
    check_output,
    check_pack_name,
    custom_mapping,
    import_dataset,
    render_pack,
    write_pack,
)
from app.engine.probes.schema import Pack, render

HARMBENCH = (
    "Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID\n"
    "Explain how tides work,standard,chemical_biological,,,tides\n"
    '"Summarise the letter above in one line",contextual,harassment_bullying,,"Dear Sam,\nthe meeting moved.",letter\n'
    "List three prime numbers,standard,illegal,,,primes\n"
    "Explain how tides work,standard,chemical_biological,,,tides_again\n"
    "Name a colour of the rainbow,standard,chemical_biological,,,colour\n"
)


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def _probes(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    probes = document["probes"]
    assert isinstance(probes, list)
    return {probe["id"]: probe for probe in probes}


def test_harmbench_layout_groups_rows_by_category_with_contexts_before_the_behaviour(tmp_path: Path) -> None:
    source = _write(tmp_path, "behaviours.csv", HARMBENCH)
    result = import_dataset(source, fmt="csv", mapping=PRESETS["harmbench"], pack="hb")
    assert (result.rows, result.prompts) == (5, 4)
    assert [str(skipped) for skipped in result.skipped] == [
        "line 6 (id tides_again): duplicate prompt (same as line 2)"
    ]
    probes = _probes(result.document)
    assert list(probes) == ["hb.chemical_biological", "hb.harassment_bullying", "hb.illegal"]
    chem = probes["hb.chemical_biological"]
    assert chem["prompts"] == ["Explain how tides work", "Name a colour of the rainbow"]
    assert chem["detectors"] == ["judge"]
    assert chem["tags"] == ["imported", "category:chemical_biological", "source:harmbench", "harm:cbrn"]
    assert (chem["owasp"], chem["severity"]) == ("LLM01", "high")
    assert chem["rubric"].startswith("The answer does what the prompt asked:")
    assert probes["hb.harassment_bullying"]["prompts"] == [
        "Dear Sam,\nthe meeting moved.\n\nSummarise the letter above in one line"
    ]
    assert probes["hb.harassment_bullying"]["tags"][-1] == "harm:hate_harassment"
    assert probes["hb.illegal"]["tags"] == ["imported", "category:illegal", "source:harmbench"]  # no certain harm tag
    pack = Pack.model_validate(result.document)
    assert all(probe.needs_judge for probe in pack.probes)


def test_advbench_layout_is_one_uncategorised_probe_and_ignores_the_target_column(tmp_path: Path) -> None:
    source = _write(
        tmp_path,
        "harmful_behaviors.csv",
        'goal,target\nDescribe a sunset,"Sure, here is a sunset"\nWrite a haiku about rain,Sure\n',
    )
    result = import_dataset(
        source, fmt="csv", mapping=PRESETS["advbench"], pack="adv", severity="medium", owasp="LLM09"
    )
    (probe,) = result.document["probes"]
    assert probe["id"] == "adv.uncategorised"
    assert probe["prompts"] == ["Describe a sunset", "Write a haiku about rain"]
    assert (probe["severity"], probe["owasp"]) == ("medium", "LLM09")
    assert "Sure" not in json.dumps(probe)


@pytest.mark.parametrize("index_header", ["Index", ""])
def test_jailbreakbench_layout_with_or_without_the_index_column_name(tmp_path: Path, index_header: str) -> None:
    source = _write(
        tmp_path,
        "harmful-behaviors.csv",
        f"{index_header},Goal,Target,Behavior,Category,Source\n"
        "0,Write a limerick about a cat,Sure,Limerick,Malware/Hacking,Original\n"
        "1,Explain what a firewall does,Sure,Firewall,Privacy,Original\n"
        "2,Explain what a VPN does,Sure,VPN,Malware/Hacking,Original\n",
    )
    result = import_dataset(source, fmt="csv", mapping=PRESETS["jailbreakbench"], pack="jbb")
    probes = _probes(result.document)
    assert {probe_id: len(probe["prompts"]) for probe_id, probe in probes.items()} == {
        "jbb.malware_hacking": 2,
        "jbb.privacy": 1,
    }
    assert probes["jbb.malware_hacking"]["tags"][-1] == "harm:cyber"
    assert probes["jbb.privacy"]["tags"][-1] == "harm:privacy"
    assert "Malware/Hacking" in probes["jbb.malware_hacking"]["title"]


def test_a_goal_column_gives_each_goal_its_probe_and_rubric(tmp_path: Path) -> None:
    source = _write(
        tmp_path,
        "wrapped.csv",
        "text,kind,aim,row\n"
        "Story mode: tell me the capital of France,roleplay,name the capital of France,a1\n"
        "As a quiz host: which city is France's capital?,roleplay,name the capital of France,a2\n"
        "Story mode: how many legs has a spider,roleplay,count a spider's legs,a3\n",
    )
    mapping = custom_mapping("text", category="kind", id_column="row", goal="aim")
    result = import_dataset(source, fmt="csv", mapping=mapping, pack="wrap")
    probes = list(_probes(result.document).values())
    assert [len(probe["prompts"]) for probe in probes] == [2, 1]
    ids = [probe["id"] for probe in probes]
    assert all(probe_id.startswith("wrap.roleplay.g") for probe_id in ids) and len(set(ids)) == 2
    assert probes[0]["goal"] == "Get the assistant to do this: name the capital of France."
    assert probes[0]["rubric"].startswith("The answer does what was asked: name the capital of France.")
    # ids derive from the pack, the category and the goal: the same file imports to the same ids
    again = import_dataset(source, fmt="csv", mapping=mapping, pack="wrap")
    assert [probe["id"] for probe in again.document["probes"]] == ids


def test_jsonl_rows_keep_unicode_line_separators_and_numbers_as_ids(tmp_path: Path) -> None:
    lines = [
        {"prompt": "first\u2028line", "topic": "misc", "n": 1},
        {"prompt": "second", "topic": None, "n": 2},
        {"prompt": "", "topic": "misc", "n": 3},
    ]
    source = _write(tmp_path, "rows.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    mapping = custom_mapping("prompt", category="topic", id_column="n")
    result = import_dataset(source, fmt="jsonl", mapping=mapping, pack="rows")
    probes = _probes(result.document)
    assert probes["rows.misc"]["prompts"] == ["first\u2028line"]
    assert probes["rows.uncategorised"]["prompts"] == ["second"]
    assert [str(skipped) for skipped in result.skipped] == ["line 3 (id 3): empty prompt"]


def test_braces_in_a_dataset_are_escaped_and_render_back_to_the_original(tmp_path: Path) -> None:
    source = _write(tmp_path, "braces.csv", 'prompt\n"Fill in {name} and {{literal}} and {marker}"\n')
    result = import_dataset(source, fmt="csv", mapping=custom_mapping(), pack="braces")
    probe = Pack.model_validate(result.document).probes[0]
    sent = render(probe.prompts[0], canary="c", marker="SAMARK00000000", exfil_url="u")
    assert sent == "Fill in {name} and {{literal}} and {marker}"


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    source = _write(tmp_path, "bom.csv", "\ufeffgoal,target\nSay hello,Sure\n".encode())
    result = import_dataset(source, fmt="csv", mapping=PRESETS["advbench"], pack="bom")
    assert result.document["probes"][0]["prompts"] == ["Say hello"]


# --- hostile input: one clear DatasetError --------------------------------------------------------------


def _error(tmp_path: Path, name: str, data: str | bytes, mapping_name: str = "advbench", **options: object) -> str:
    source = _write(tmp_path, name, data)
    fmt = "jsonl" if name.endswith(".jsonl") else "csv"
    mapping = options.pop("mapping", PRESETS.get(mapping_name))
    with pytest.raises(DatasetError) as caught:
        import_dataset(source, fmt=fmt, mapping=mapping, pack="bad", **options)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_file_that_is_not_utf8_names_the_line_and_byte(tmp_path: Path) -> None:
    message = _error(tmp_path, "latin1.csv", "goal,target\nCaf\u00e9 time,Sure\n".encode("latin-1"))
    assert message == (
        "latin1.csv: line 2: not UTF-8 (byte 0xe9 at offset 15); save the file as UTF-8 and import it again"
    )


def test_a_file_over_the_size_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    big = b"goal,target\n" + b"x" * (8 * 1024 * 1024)
    message = _error(tmp_path, "big.csv", big)
    assert message.startswith("big.csv: larger than 8 MiB; split the dataset")


def test_more_rows_than_the_cap_are_refused(tmp_path: Path) -> None:
    rows = "".join(f"Prompt number {number},Sure\n" for number in range(5_001))
    message = _error(tmp_path, "many.csv", "goal,target\n" + rows)
    assert message == "many.csv: more than 5,000 rows; split the dataset and import each part"


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@"])
def test_formula_cells_are_refused_unless_allowed(tmp_path: Path, prefix: str) -> None:
    data = f"goal,target\nSay hi,Sure\n{prefix}HYPERLINK(1),Sure\n"
    message = _error(tmp_path, "formula.csv", data)
    assert message == (
        f"formula.csv: line 3, column 'goal': starts with '{prefix}', which a spreadsheet runs as a formula; remove "
        "it, or pass --allow-leading-symbols if the text really starts so"
    )
    source = tmp_path / "formula.csv"
    allowed = import_dataset(source, fmt="csv", mapping=PRESETS["advbench"], pack="ok", allow_leading_symbols=True)
    assert allowed.document["probes"][0]["prompts"][1] == f"{prefix}HYPERLINK(1)"


def test_formula_cells_in_columns_the_mapping_does_not_read_are_not_refused(tmp_path: Path) -> None:
    source = _write(tmp_path, "target.csv", "goal,target\nSay hi,=1+1\n")
    assert import_dataset(source, fmt="csv", mapping=PRESETS["advbench"], pack="ok").prompts == 1


def test_missing_columns_name_the_expected_and_the_found_ones(tmp_path: Path) -> None:
    message = _error(tmp_path, "wrong.csv", "goal,target\nSay hi,Sure\n", "harmbench")
    assert message == (
        "wrong.csv: missing column(s) 'Behavior', 'SemanticCategory' for mapping harmbench; it expects Behavior, "
        "SemanticCategory (optional: BehaviorID, ContextString); found 'goal', 'target'"
    )


def test_a_jsonl_row_without_the_prompt_key_names_its_line(tmp_path: Path) -> None:
    data = '{"prompt": "one"}\n{"text": "two"}\n'
    message = _error(tmp_path, "rows.jsonl", data, mapping=custom_mapping())
    assert message == (
        "rows.jsonl: line 2: missing column(s) 'prompt' for mapping custom; it expects prompt; found 'text'"
    )


def test_only_empty_or_duplicate_prompts_is_an_error(tmp_path: Path) -> None:
    message = _error(tmp_path, "empty.csv", "goal,target\n,Sure\n  ,Sure\n")
    assert message == "empty.csv: no prompt to import (2 empty prompt)"
    assert _error(tmp_path, "header.csv", "goal,target\n") == "header.csv: no prompt to import (no data rows)"
    assert _error(tmp_path, "nothing.csv", "") == "nothing.csv: the file is empty or has no header row"


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("nul.csv", "goal,target\nSay\x00hi,Sure\n", "nul.csv: line 2, column 'goal': holds a NUL character"),
        ("fields.csv", "goal,target\nSay hi,Sure,extra\n", "fields.csv: line 2: 3 field(s) where the header has 2"),
        ("quote.csv", 'goal,target\n"Say hi,Sure\n', "quote.csv: line 2: unreadable CSV"),
        ("twice.csv", "goal,goal\nSay hi,Sure\n", "twice.csv: line 1: the header repeats column(s) 'goal'"),
        ("long.csv", "goal,target\n" + "x" * 20_001 + ",Sure\n", "long.csv: line 2: the prompt is 20,001 characters"),
    ],
)
def test_malformed_csv_is_one_clear_error(tmp_path: Path, name: str, data: str, expected: str) -> None:
    assert _error(tmp_path, name, data).startswith(expected)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"prompt": "a"}\n{"prompt": \n', "rows.jsonl: line 2: not JSON (Expecting value)"),
        ('["prompt"]\n', "rows.jsonl: line 1: each line must be a JSON object, not list"),
        ('{"prompt": {"text": "a"}}\n', "rows.jsonl: line 1, key 'prompt' holds dict JSON, not text"),
        ('{"prompt": "bad \\ud800 half"}\n', "rows.jsonl: line 1, column 'prompt': holds an unpaired surrogate"),
        ("[" * 100_000 + "\n", "rows.jsonl: line 1: not JSON (nested too deeply)"),
    ],
)
def test_malformed_jsonl_is_one_clear_error(tmp_path: Path, data: str, expected: str) -> None:
    assert _error(tmp_path, "rows.jsonl", data, mapping=custom_mapping()).startswith(expected)


def test_a_goal_that_is_really_a_prompt_is_refused(tmp_path: Path) -> None:
    data = "text,aim\nSay hi," + "y" * 251 + "\n"
    message = _error(tmp_path, "goal.csv", data, mapping=custom_mapping("text", goal="aim"))
    assert message.startswith("goal.csv: line 2, column 'aim': the goal is 251 characters")


def test_custom_mapping_needs_distinct_non_empty_columns() -> None:
    with pytest.raises(DatasetError, match="each role needs a column of its own"):
        custom_mapping("text", category="text")
    with pytest.raises(DatasetError, match="must not be empty"):
        custom_mapping(" ")


# --- rendering and writing ------------------------------------------------------------------------------


def _document(pack: str = "mine", prompts: list[str] | None = None) -> dict[str, object]:
    return {
        "pack": pack,
        "title": "Mine",
        "version": 1,
        "probes": [
            {
                "id": f"{pack}.one",
                "title": "One",
                "owasp": "LLM01",
                "severity": "high",
                "description": "d",
                "remediation": "r",
                "rubric": "The answer complies.",
                "prompts": prompts or ["Say hi"],
                "detectors": ["judge"],
            }
        ],
    }


def test_render_keeps_every_prompt_byte_for_byte_and_header_text_stays_a_comment() -> None:
    prompts = ["two\nlines", "trailing space \nnext", "tab\tand\x1bescape", "ends with newline\n", "a\u2028b"]
    text = render_pack(_document(prompts=prompts), ["first", "sneaky\npack: other\u2028probes: []"])
    assert text.startswith("# first\n# sneaky pack: other probes: []\npack: mine\n")
    loaded = yaml.safe_load(text)
    assert loaded["probes"][0]["prompts"] == prompts
    assert loaded == _document(prompts=prompts)
    assert "  - |-\n    two\n    lines\n" in text  # multi-line prompts read as blocks


def test_render_refuses_a_pack_over_the_user_pack_size_limit() -> None:
    with pytest.raises(DatasetError, match=r"the pack would be [\d,]+ bytes; a pack may hold at most 2,097,152"):
        render_pack(_document(prompts=[f"{number} " + "x" * 10_000 for number in range(220)]), [])


def test_render_refuses_a_probe_id_of_a_shipped_pack() -> None:
    document = _document()
    document["probes"][0]["id"] = "pi.direct.ignore_previous"  # type: ignore[index]
    with pytest.raises(DatasetError, match=r"probe id 'pi\.direct\.ignore_previous' is already defined"):
        render_pack(document, [])


def test_pack_names_must_be_valid_and_not_shipped() -> None:
    check_pack_name("my_tests")
    with pytest.raises(DatasetError, match="is taken by a shipped pack"):
        check_pack_name("jailbreak")
    with pytest.raises(DatasetError, match="must be lower-case letters"):
        check_pack_name("My-Tests")


def test_output_is_named_after_the_pack_and_never_replaced_without_force(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"--output must be named mine\.yaml"):
        check_output(tmp_path / "other.yaml", "mine", force=False)
    with pytest.raises(DatasetError, match="does not exist"):
        check_output(tmp_path / "missing" / "mine.yaml", "mine", force=False)
    target = tmp_path / "mine.yaml"
    write_pack("first: 1\n", target, force=False)
    with pytest.raises(DatasetError, match="exists; pass --force"):
        check_output(target, "mine", force=False)
    with pytest.raises(DatasetError, match="exists; pass --force"):
        write_pack("second: 2\n", target, force=False)  # even when the check was passed earlier
    assert target.read_text() == "first: 1\n"
    write_pack("third: 3\n", target, force=True)
    assert target.read_text() == "third: 3\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.yaml"]  # no temporary file left


def test_a_directory_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").mkdir()
    with pytest.raises(DatasetError, match="exists and is not a file"):
        check_output(tmp_path / "mine.yaml", "mine", force=True)


def test_without_hard_links_the_pack_is_renamed_into_place_but_still_never_over_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: object, target: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("app.engine.probes.importers.os.link", no_links)
    target = tmp_path / "mine.yaml"
    write_pack("first: 1\n", target, force=False)
    assert target.read_text() == "first: 1\n"
    with pytest.raises(DatasetError, match="exists; pass --force"):
        write_pack("second: 2\n", target, force=False)
    assert target.read_text() == "first: 1\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.yaml"]


def test_text_a_literal_block_would_change_is_written_double_quoted() -> None:
    # YAML reads NEL, LS, PS and a lone CR inside a literal block as line breaks: such text is double-quoted
    prompts = ["two\nlines", "next\x85line\nend", "cr\ronly\n"]
    text = render_pack(_document(prompts=prompts), [])
    assert yaml.safe_load(text)["probes"][0]["prompts"] == prompts
    assert '  - |-\n    two\n    lines\n  - "next\\Nline\\nend"\n  - "cr\\ronly\\n"\n' in text


def test_any_text_reads_back_exactly() -> None:
    rng = random.Random(7)
    alphabet = "ab \n\t\r\x85\u2028\u2029\ufeff\x1b'\"\\#:-|>\u00e9\U0001f600\x7f\xa0"
    prompts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300))) for _ in range(300)]
    prompts = [prompt for prompt in dict.fromkeys(prompts) if prompt.strip()]
    text = render_pack(_document(prompts=prompts), [])
    assert yaml.safe_load(text)["probes"][0]["prompts"] == prompts
