"""Property tests: strategies never raise on any Unicode (lone surrogates included) and reversible ones reverse."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.strategies import available_strategies, get_strategy, parse_stack
from app.engine.strategies.encoding import CODECS, unwrap
from app.engine.strategies.obfuscation import (
    HOMOGLYPHS,
    ZERO_WIDTH,
    decode_tags,
    escape_for_tags,
    normalize_homoglyphs,
    strip_zero_width,
)
from app.engine.strategies.splitting import unfence

ANY_TEXT = st.text(st.characters(exclude_categories=()))  # every category, surrogates too
SEEDS = st.integers(min_value=-(2**70), max_value=2**70)
# adaptive strategies (pair, tap, ...) talk to models and go first and alone: tested in test_attack_protocol.py
ADAPTIVE = {"pair", "tap", "crescendo", "best_of_n"}
NAMES = [name for name, _ in available_strategies() if name not in ADAPTIVE]
LOOKALIKES = set(HOMOGLYPHS.values())


@settings(max_examples=150)
@given(turns=st.lists(ANY_TEXT, max_size=3).map(tuple), seed=SEEDS, stack=st.lists(st.sampled_from(NAMES), max_size=3))
def test_any_stack_accepts_any_turns_deterministically(turns: tuple[str, ...], seed: int, stack: list[str]) -> None:
    strategies = parse_stack("+".join(stack)) if stack else ()
    out = turns
    for strategy in strategies:
        out = strategy.apply(out, seed)
    assert isinstance(out, tuple) and all(isinstance(turn, str) for turn in out)
    assert len(out) >= len(turns)
    again = turns
    for strategy in strategies:
        again = strategy.apply(again, seed)
    assert again == out


@given(payload=ANY_TEXT, seed=SEEDS)
def test_encodings_round_trip_any_text(payload: str, seed: int) -> None:
    for name, codec in CODECS.items():
        (text,) = get_strategy(name).apply((payload,), seed)
        assert codec.decode(unwrap(text)) == payload, name


@given(payload=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E)), seed=SEEDS)
def test_unicode_tags_round_trip_printable_ascii(payload: str, seed: int) -> None:
    (text,) = get_strategy("unicode_tags").apply((payload,), seed)
    assert decode_tags(text) == payload


@given(payload=ANY_TEXT, seed=SEEDS)
def test_unicode_tags_carry_an_ascii_escape_of_anything(payload: str, seed: int) -> None:
    (text,) = get_strategy("unicode_tags").apply((payload,), seed)
    assert decode_tags(text) == escape_for_tags(payload)


@given(payload=ANY_TEXT.filter(lambda text: not LOOKALIKES.intersection(text)), seed=SEEDS)
def test_homoglyph_reverses_through_the_mapping_table(payload: str, seed: int) -> None:
    (text,) = get_strategy("homoglyph").apply((payload,), seed)
    assert normalize_homoglyphs(text) == payload


@given(payload=ANY_TEXT.filter(lambda text: not set(ZERO_WIDTH).intersection(text)), seed=SEEDS)
def test_zero_width_reverses_by_stripping(payload: str, seed: int) -> None:
    (text,) = get_strategy("zero_width").apply((payload,), seed)
    assert strip_zero_width(text) == payload


@given(payload=ANY_TEXT, seed=SEEDS)
def test_splits_join_back_to_any_payload(payload: str, seed: int) -> None:
    *pieces, _ = get_strategy("payload_split").apply((payload,), seed)
    assert "".join(unfence(turn) for turn in pieces) == payload
    (message,) = get_strategy("payload_split_vars").apply((payload,), seed)
    values = {m[1]: json.loads(m[2]) for m in re.finditer(r"^(\w+) = (\".*\")$", message, flags=re.MULTILINE)}
    expression = re.search(r"z = (\w+(?: \+ \w+)*)", message)
    assert expression is not None
    assert "".join(values[name] for name in expression[1].split(" + ")) == payload


@given(payload=ANY_TEXT, seed=SEEDS)
def test_escalation_always_ends_with_the_payload(payload: str, seed: int) -> None:
    out = get_strategy("escalation").apply(("setup", payload), seed)
    assert out[0] == "setup" and out[-1] == payload and len(out) == 5
