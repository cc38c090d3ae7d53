"""``python -m sandbox serve ...``: the same command as ``mcn sandbox serve``."""

from sandbox.cli import sandbox_app

sandbox_app(prog_name="python -m sandbox")
