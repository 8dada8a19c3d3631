"""Authentication: password hashing, tokens, roles."""
