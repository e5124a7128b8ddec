"""Resolve a storage URI to one local model file, only from where the platform allows.

Supported: a local path, `file://PATH`, and `s3://BUCKET/KEY-OR-PREFIX` (boto3; honours
AWS_ENDPOINT_URL and the usual AWS_* variables). A URI may name the model file itself or a
directory/prefix holding exactly one model file with a well-known name for the declared format
(see `MODEL_FILES`). Anything else fails with `ModelLoadError` naming what, where and the fix.

Local paths are resolved (symlinks and `..`) and must lie under one of the allowed model roots
the engine passes (`--model-root`). A path outside them gets the very message a missing file
gets, so a storage URI cannot be used to learn which files exist elsewhere on the machine.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from neuroscale.errors import ModelLoadError

SUPPORTED_SCHEMES: tuple[str, ...] = ("file", "s3")
#: File names recognised inside a directory or prefix, per declared model format.
MODEL_FILES: dict[str, tuple[str, ...]] = {
    "sklearn": ("model.skops", "model.joblib", "model.pkl", "model.pickle"),
    "xgboost": ("model.json", "model.ubj", "model.bst", "model.joblib", "model.pkl", "model.pickle"),
    "lightgbm": ("model.txt", "model.bst", "model.joblib", "model.pkl", "model.pickle"),
    "onnx": ("model.onnx",),
}
ALL_MODEL_FILES = frozenset(name for names in MODEL_FILES.values() for name in names)
_NOT_FOUND = "no model file at this storage URI under the allowed model roots"
MAX_FOLDER_FILES = 1000  # a folder model (e.g. a sentence-transformers snapshot) holds at most this many


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "neuroscale-model-cache"


def resolve(uri: str, *, model_format: str, cache_dir: Path | None = None,
            model_roots: Sequence[Path] = ()) -> Path:
    """Return the local model file for `uri`, downloading s3:// objects into `cache_dir`.

    Local paths must resolve under one of `model_roots`; with none given, no local path is allowed.
    """
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file"):
        return _pick_local(_local_path(uri), model_format=model_format, where=uri, roots=model_roots)
    if scheme == "s3":
        from neuroscale.serving import s3  # lazy: boto3 costs ~0.3 s to import

        return s3.download(
            bucket=parsed.netloc,
            key=parsed.path.lstrip("/"),
            model_format=model_format,
            cache_dir=cache_dir or default_cache_dir(),
            where=uri,
        )
    raise ModelLoadError(
        f"unsupported storage scheme {scheme!r}",
        where=uri,
        fix="use a local path, file://PATH or s3://BUCKET/KEY (supported schemes: local, "
        + ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
        + ")",
    )


def resolve_folder(uri: str, *, cache_dir: Path | None = None, model_roots: Sequence[Path] = ()) -> Path:
    """Return the local directory for `uri` (models made of several files, e.g. Hugging Face ones).

    A local folder, and every file in it (symlinks resolved), must lie under one of `model_roots`.
    """
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file"):
        roots = [root.resolve() for root in model_roots]
        folder = _confined(_local_path(uri), where=uri, roots=roots)
        if not folder.is_dir():
            raise _not_found(uri, roots)
        for index, inner in enumerate(folder.rglob("*")):
            if index >= MAX_FOLDER_FILES:
                raise ModelLoadError(f"more than {MAX_FOLDER_FILES} files in the model folder", where=uri,
                                     fix="point the storage URI at the model's own folder")
            _confined(inner, where=uri, roots=roots)
        return folder
    if scheme == "s3":
        from neuroscale.serving import s3

        return s3.download_folder(bucket=parsed.netloc, prefix=parsed.path.lstrip("/"),
                                  cache_dir=cache_dir or default_cache_dir(), where=uri)
    raise ModelLoadError(f"unsupported storage scheme {scheme!r}", where=uri,
                         fix="use a local path, file://PATH or s3://BUCKET/PREFIX")


def local_file(uri: str) -> Path | None:
    """The path a local storage URI (a path or `file://`) names; None for a remote or malformed one."""
    if urlparse(uri).scheme.lower() not in ("", "file"):
        return None
    try:
        return _local_path(uri)
    except ModelLoadError:
        return None


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme.lower() == "file" and parsed.netloc not in ("", "localhost"):
        raise ModelLoadError(f"file:// URI names host {parsed.netloc!r}", where=uri,
                             fix="use file:///ABSOLUTE/PATH (three slashes) for a file on this machine")
    return Path(unquote(parsed.path) if parsed.scheme else uri).expanduser()


def pick_model_file(names: list[str], *, model_format: str, where: str) -> str:
    """Choose the single model file among `names` (basenames) for the declared format."""
    wanted = MODEL_FILES[model_format]
    found = sorted(name for name in names if name in wanted)
    if len(found) == 1:
        return found[0]
    if found:
        raise ModelLoadError(
            f"found several model files {found}; expected exactly one",
            where=where,
            fix="keep one model file in the directory, or point the storage URI at the file itself",
        )
    others = sorted(name for name in names if name in ALL_MODEL_FILES)
    hint = f" (found {others}: is --model-format right?)" if others else ""
    raise ModelLoadError(
        f"no {model_format} model file found{hint}",
        where=where,
        fix=f"put one of {', '.join(wanted)} there, or point the storage URI at the model file",
    )


def _not_found(where: str, roots: Sequence[Path]) -> ModelLoadError:
    allowed = ", ".join(str(root) for root in roots) or "none configured"
    return ModelLoadError(
        _NOT_FOUND,
        where=where,
        fix=f"put the model file under an allowed model root ({allowed}) and point the storage URI at it; "
        "`neuroscale up --model-root DIR` allows another directory",
    )


def _confined(path: Path, *, where: str, roots: Sequence[Path]) -> Path:
    """`path` with symlinks and `..` resolved, if that lies under an allowed root; else "not found"."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: as unhelpful to an attacker as a missing file
        raise _not_found(where, roots) from None
    if not any(resolved.is_relative_to(root) for root in roots):
        raise _not_found(where, roots)
    return resolved


def _pick_local(path: Path, *, model_format: str, where: str, roots: Sequence[Path]) -> Path:
    roots = [root.resolve() for root in roots]
    path = _confined(path, where=where, roots=roots)
    if path.is_dir():
        try:
            names = os.listdir(path)
        except OSError as exc:
            raise ModelLoadError(
                f"cannot list the model directory: {exc.strerror}",
                where=where,
                fix="make the directory readable by the model server",
            ) from None
        path = _confined(path / pick_model_file(names, model_format=model_format, where=where),
                         where=where, roots=roots)
    if not path.is_file():
        raise _not_found(where, roots)
    if not os.access(path, os.R_OK):
        raise ModelLoadError(
            "model file is not readable", where=where, fix="make the file readable by the model server"
        )
    return path


def describe(exc: Any) -> str:
    """One line for an exception raised by a third-party library."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
