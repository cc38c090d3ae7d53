"""The accounts package's expected errors: one line each, naming the input and the problem, never a secret."""

from __future__ import annotations


class AccountError(ValueError):
    """Bad input to the accounts registry (unknown id, bad status, bad CSV row, ...); ``str()`` is one line."""


class SecretsError(AccountError):
    """The secret key or an account's encrypted secrets cannot be used (wrong key, unsafe key file, bad value)."""
