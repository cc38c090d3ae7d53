"""``mcn products niche``: niches given from a CSV (or options) reach the posting plan's matching, so a beauty
product goes to the beauty account and never to the kitchen account. Real SQLite database and planner."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from mcn.cli import app
from tests.test_plan import add_account, add_clips, add_product, engine, stored_posts

__all__ = ["engine"]  # the fixture, imported for these tests


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["products", "niche", *args], env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_niches_from_a_csv_steer_the_plan(engine: Engine, tmp_path: Path) -> None:
    add_product(engine, "lipstick")
    add_product(engine, "wok")
    add_clips(engine, 3, "lipstick")
    add_clips(engine, 3, "wok")
    beauty = add_account(engine, "beauty_acct", niches=["Beauty"], daily_cap=3)
    kitchen = add_account(engine, "kitchen_acct", niches=["kitchen"], daily_cap=3)
    sheet = tmp_path / "niches.csv"
    sheet.write_text("id,niches\nlipstick,beauty|makeup\nwok,Kitchen\n", encoding="utf-8")
    code, stdout, stderr = _invoke("--file", str(sheet))
    assert code == 0, stderr
    assert "lipstick: beauty, makeup" in stdout and "wok: Kitchen" in stdout
    code, listing, _ = _invoke()
    assert code == 0 and "beauty, makeup" in listing

    day = (date.today() + timedelta(days=2)).isoformat()
    planned = CliRunner().invoke(app, ["plan", "--date", day])
    assert planned.exit_code == 0, planned.output
    posts = stored_posts(engine)
    assert posts, planned.output
    assert {p.product_id for p in posts if p.account_id == beauty} == {"lipstick"}
    assert {p.product_id for p in posts if p.account_id == kitchen} == {"wok"}


def test_unknown_products_and_bad_files_change_nothing(engine: Engine, tmp_path: Path) -> None:
    add_product(engine, "lipstick", niches=["beauty"])
    sheet = tmp_path / "niches.csv"
    sheet.write_text("id,niches\nlipstick,kitchen\nghost,beauty\n", encoding="utf-8")
    code, _, stderr = _invoke("--file", str(sheet))
    assert code == 2 and "no product with id ghost; nothing changed" in stderr
    assert len(stderr.strip().splitlines()) == 1
    code, listing, _ = _invoke()
    assert "beauty" in listing and "kitchen" not in listing  # all or none
    bad = tmp_path / "bad.csv"
    bad.write_text("product,niche\nlipstick,kitchen\n", encoding="utf-8")
    assert _invoke("--file", str(bad))[0] == 2
    assert _invoke("lipstick")[0] == 2  # neither --set nor --clear
    code, stdout, _ = _invoke("lipstick", "--clear")
    assert code == 0 and "no niche: matches every account" in stdout
