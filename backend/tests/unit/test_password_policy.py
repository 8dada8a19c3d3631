"""The password policy: length first, then what a guesser tries first; every problem is reported."""

from __future__ import annotations

import pytest

from app.auth.policy import MAX_LENGTH, MIN_LENGTH, password_problems


@pytest.mark.parametrize(
    "password",
    [
        "Tr0ub4dor&3-horse",
        "correct-horse-battery-9",
        "a long passphrase of plain words",  # no digit or capital needed: length does the work
        "kx7!Rq2#mLp9",  # exactly MIN_LENGTH
        "x" * 100 + "yzabcdefgh" * 15 + "Q" * 6,  # exactly MAX_LENGTH, enough different characters
    ],
)
def test_good_passwords_pass(password: str) -> None:
    assert len(password) <= MAX_LENGTH
    assert password_problems(password, username="alice", email="alice@example.com") == []


def test_length_bounds() -> None:
    assert password_problems("kx7!Rq2#mLp") == [f"must be at least {MIN_LENGTH} characters long"]
    assert password_problems("") == [f"must be at least {MIN_LENGTH} characters long"]
    assert password_problems("kx7!Rq2#mLp9" * 22) == [f"must be at most {MAX_LENGTH} characters long"]  # 264


def test_the_username_or_email_is_not_a_password() -> None:
    assert password_problems("Alice.Example", username="alice.example") == ["must not be the username"]
    assert password_problems("alice@example.com", email="Alice@Example.com") == ["must not be the e-mail address"]
    assert password_problems("alice.smith.1990", email="alice.smith.1990@example.com") == [
        "must not be the e-mail address"
    ]


@pytest.mark.parametrize(
    "password",
    ["password1234", "Password1234", "qwerty123456", "correct horse battery staple", "Password2024!", "!!Welcome2025"],
)
def test_common_passwords_are_refused(password: str) -> None:
    assert "is one of the most common passwords" in password_problems(password)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("bbbbbbbbbbbbbb", "must use at least 6 different characters"),
        ("abababababab", "must use at least 6 different characters"),
        ("839274619203", "must not be only digits"),
        ("9876543210987", "must not be only digits"),
        ("lmnopqrstuvw", "must not be a run of consecutive characters such as abcdef... or 123456..."),
        ("ZYXWVUTSRQPONM", "must not be a run of consecutive characters such as abcdef... or 123456..."),
    ],
)
def test_passwords_without_variety_are_refused(password: str, problem: str) -> None:
    assert password_problems(password) == [problem]


def test_unstorable_characters_are_refused() -> None:
    assert password_problems("kx7!Rq2#mLp9\x00") == [
        "contains characters that cannot be stored (NUL or unpaired surrogates)"
    ]
    assert password_problems("kx7!Rq2#mLp9\ud800")


def test_every_problem_is_listed_at_once() -> None:
    problems = password_problems("password1234", username="password1234")
    assert problems == ["must not be the username", "is one of the most common passwords"]
