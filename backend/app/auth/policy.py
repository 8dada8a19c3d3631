"""Password policy: long enough, not absurdly long, not guessable from the account or a common-password list.

Length does most of the work (NIST SP 800-63B): no rule forces a digit or a capital letter, so a passphrase of
plain words is fine. The other rules only reject what a guesser tries first. The upper bound exists because
argon2 hashes whatever it is given and the login endpoint would otherwise hash megabytes on request.
"""

from __future__ import annotations

from itertools import pairwise

MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_DISTINCT_CHARACTERS = 6

#: Passwords of at least MIN_LENGTH characters that appear near the top of public breach lists.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456789123",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "qwertyuiopasdfgh",
        "qwertyuiop123",
        "qwertyuiopas",
        "qwerty123456",
        "qwerty1234567",
        "asdfghjkl123",
        "zaq12wsxcde3",
        "1qaz2wsx3edc4rfv",
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "passw0rd1234",
        "p@ssw0rd1234",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "welcome@1234",
        "changeme1234",
        "administrator",
        "administrator1",
        "adminadminadmin",
        "secureai1234",
        "correcthorsebatterystaple",
        "correct horse battery staple",
        "trustno1trustno1",
        "football1234",
        "baseball1234",
        "sunshine1234",
        "princess1234",
        "superman1234",
        "starwars1234",
        "monkey123456",
        "dragon123456",
        "abcdefghijkl",
        "abc123abc123",
        "aaaaaaaaaaaa",
        "000000000000",
        "111111111111",
        "1234qwerasdf",
        "q1w2e3r4t5y6",
    }
)

#: Words that, padded with digits and symbols ("Password2024!"), are still among the first guesses.
COMMON_WORDS = frozenset(
    {
        "password",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "qwerty",
        "qwertyuiop",
        "letmein",
        "welcome",
        "admin",
        "administrator",
        "changeme",
        "secureai",
        "iloveyou",
        "monkey",
        "dragon",
        "football",
        "baseball",
        "sunshine",
        "princess",
        "superman",
        "starwars",
        "master",
        "login",
        "secret",
        "default",
        "test",
    }
)

_PADDING = "0123456789!@#$%^&*()-_=+.,;:?/\\|~`'\" "


def password_problems(password: str, *, username: str | None = None, email: str | None = None) -> list[str]:
    """Every rule `password` breaks, as sentences for the person choosing it; an empty list means acceptable."""
    if len(password) < MIN_LENGTH:
        return [f"must be at least {MIN_LENGTH} characters long"]
    if len(password) > MAX_LENGTH:
        return [f"must be at most {MAX_LENGTH} characters long"]
    problems: list[str] = []
    if not _storable(password):
        problems.append("contains characters that cannot be stored (NUL or unpaired surrogates)")
    lowered = password.lower()
    if username and lowered.strip() == username.lower().strip():
        problems.append("must not be the username")
    if email and lowered.strip() in {email.lower().strip(), email.lower().strip().split("@")[0]}:
        problems.append("must not be the e-mail address")
    if lowered in COMMON_PASSWORDS or lowered.strip(_PADDING) in COMMON_WORDS:
        problems.append("is one of the most common passwords")
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        problems.append(f"must use at least {MIN_DISTINCT_CHARACTERS} different characters")
    elif password.isdigit():
        problems.append("must not be only digits")
    elif _is_sequence(lowered):
        problems.append("must not be a run of consecutive characters such as abcdef... or 123456...")
    return problems


def _storable(password: str) -> bool:
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in password


def _is_sequence(text: str) -> bool:
    """True when nearly every character follows the previous one in code order, up or down (wrapping 9 to 0)."""
    pairs = list(pairwise(text))
    return sum(1 for a, b in pairs if _neighbours(a, b)) >= 0.8 * len(pairs)


def _neighbours(a: str, b: str) -> bool:
    if a.isdigit() and b.isdigit():
        return (int(b) - int(a)) % 10 in {1, 9}
    return abs(ord(b) - ord(a)) == 1
