"""The demo: the whole loop on embedded defaults (SQLite, ephemeral Prefect, offline detector).

Until the sandbox platform and the publisher land, the loop is: generate a sample livestream (espeak-ng speech
over a test picture, with a product list), make clips from it, print where they are.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from mcn.settings import get_settings


def run_demo(workdir: Path | None, console: Console) -> int:
    """Run the demo; return the process exit code."""
    from mcn.cli import _make_one
    from mcn.samples import build_script, generate_stream
    from mcn.samples.scripts import DEV_EN

    base = (workdir or get_settings().resolved_data_dir / "demo").resolve()
    with console.status("generating a sample livestream (espeak-ng + lavfi)"):
        stream = generate_stream(build_script(DEV_EN, products=len(DEV_EN.segments)), base / "stream")
    console.print(f"sample stream: {stream.video} ({stream.duration:.0f} s, {len(stream.products)} products)")
    error = _make_one(str(stream.video), stream.products_csv, None, "auto", 10, 15.0, 60.0, base / "clips", None)
    if error:
        return 1
    console.print(f"open {base / 'clips' / 'clips.json'} to see every clip's hook, title, score and reason")
    return 0
