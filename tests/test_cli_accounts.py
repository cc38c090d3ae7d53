"""``mcn accounts`` as an operator feeds it many accounts: an import CSV with a token column (encrypted on arrival),
``set-token --file`` for a handle,token CSV, and the exit codes (2: input refused before anything was done; 1: the
work failed). Real SQLite database and vault; the tokens must be nowhere in plaintext."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from accounts import cli as accounts_cli
from accounts.registry import AccountSpec, add_account, get_account, list_accounts
from accounts.vault import load_credentials
from mcn.cli import app
from mcn.settings import get_settings
from tests.test_accounts import HEADER, database_bytes

TOKENS = ("tok-PLAIN-aaaa1111", "tok-PLAIN-bbbb2222")


@pytest.fixture
def keyless(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MCN_SECRET_KEY", raising=False)
    monkeypatch.delenv("MCN_SECRET_KEY_FILE", raising=False)
    get_settings.cache_clear()
    return data_dir


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["accounts", *args], env={"COLUMNS": "250"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_import_with_a_token_column_stores_it_encrypted(keyless: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "accounts.csv"
    sheet.write_text(
        f"{HEADER},token\n"
        f"sandbox,alice,Alice,beauty,5,,UTC,,no,{TOKENS[0]}\n"
        "sandbox,bob,Bob,,5,,UTC,,no,\n"
        "sandbox,carol,Carol,,5,,UTC,,no,tok-SECRET 99\n",
        encoding="utf-8",
    )
    code, stdout, stderr = _cli("import", str(sheet))
    assert code == 1  # one bad row: the job partly failed
    assert "imported 2 accounts" in stdout and "1 tokens stored encrypted" in stdout, stdout
    assert "line 4: the token has spaces" in stderr and "SECRET" not in stderr
    accounts = {a.handle: a for a in list_accounts()}
    assert load_credentials(accounts["alice"].id).get("api_token") == TOKENS[0]
    assert accounts["alice"].status == "active" and accounts["bob"].status == "needs_login"
    assert TOKENS[0].encode() not in database_bytes(keyless)
    assert TOKENS[0] not in stdout + stderr


def test_set_token_file_stores_many_or_none(keyless: Path, tmp_path: Path) -> None:
    alice = add_account(AccountSpec("sandbox", "alice"))
    bob = add_account(AccountSpec("sandbox", "bob"))
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(f"handle,token\nalice,{TOKENS[0]}\nzed,{TOKENS[1]}\n", encoding="utf-8")
    code, stdout, stderr = _cli("set-token", "--file", str(unknown))
    assert code == 2 and "line 3: no account with handle 'zed'" in stderr and "nothing stored" in stderr
    assert len(stderr.strip().splitlines()) == 1 and load_credentials(alice.id).secrets == {}  # all or none
    good = tmp_path / "tokens.csv"
    good.write_text(f"platform,handle,token\nsandbox,@alice,{TOKENS[0]}\nsandbox,bob,{TOKENS[1]}\n", encoding="utf-8")
    code, stdout, stderr = _cli("set-token", "--file", str(good))
    assert code == 0, stderr
    assert "stored 2 api_token secrets" in stdout
    assert load_credentials(alice.id).get("api_token") == TOKENS[0]
    assert load_credentials(bob.id).get("api_token") == TOKENS[1]
    assert get_account(bob.id).status == "active"
    assert not any(t in stdout + stderr for t in TOKENS)
    assert not any(t.encode() in database_bytes(keyless) for t in TOKENS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("import", "{tmp}/missing.csv"), "missing.csv: file not found"),
        (("import", "{tmp}/header.csv"), "the header must be exactly"),
        (("set-token", "--file", "{tmp}/missing.csv"), "missing.csv: file not found"),
        (("set-token", "--file", "{tmp}/header.csv"), "the header must be handle,token"),
        (("set-token", "1", "--kind", "cookie"), "--kind 'cookie' is unknown"),
        (("set-token", "1", "2"), "give one account id"),
        (("add", "sandbox", "x", "--timezone", "Mars/Base"), "time zone 'Mars/Base' is unknown"),
    ],
)
def test_refused_input_exits_2_with_one_line(
    keyless: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "header.csv").write_text("name,token\nx,y\n", encoding="utf-8")
    code, stdout, stderr = _cli(*(a.format(tmp=tmp_path) for a in args))
    assert code == 2, stdout + stderr
    assert message in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert list_accounts() == []


def test_a_failed_job_exits_1(keyless: Path) -> None:
    code, _, stderr = _cli("resume", "42")
    assert (code, stderr.strip()) == (1, "error: no account with id 42")


def test_empty_list_says_why(keyless: Path) -> None:
    code, stdout, _ = _cli("list")
    assert code == 0 and "no accounts: none registered yet" in stdout
    add_account(AccountSpec("sandbox", "alice"))
    code, stdout, _ = _cli("list", "--status", "banned")
    assert code == 0 and "no accounts: none match these filters" in stdout


def test_the_option_defaults_are_the_registrys() -> None:
    from accounts import login, registry, vault
    from mcn import tables

    assert accounts_cli.ACCOUNT_STATUSES == tables.ACCOUNT_STATUSES
    assert accounts_cli.DEFAULT_DAILY_CAP == registry.DEFAULT_DAILY_CAP
    assert accounts_cli.MAX_DAILY_CAP == registry.MAX_DAILY_CAP
    assert accounts_cli.DEFAULT_TIMEZONE == registry.DEFAULT_TIMEZONE
    assert accounts_cli.DEFAULT_LOGIN_TIMEOUT_S == login.DEFAULT_LOGIN_TIMEOUT_S
    assert accounts_cli.SECRET_KINDS == vault.SECRET_KINDS
