# The two commands of the README. Both set up everything first (idempotent), so either works on a fresh machine.
.PHONY: demo test setup lint bench

setup:
	./scripts/bootstrap.sh

demo: setup
	.venv/bin/mcn demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/pytest -q -p no:cacheprovider

bench: setup
	.venv/bin/uv pip install -q --python .venv/bin/python -e ".[dev,bench]"
	.venv/bin/python bench/run_all.py
