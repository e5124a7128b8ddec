"""Resolve a storage URI to one local model file.

Supported: a local path, `file://PATH`, and `s3://BUCKET/KEY-OR-PREFIX` (boto3; honours
AWS_ENDPOINT_URL and the usual AWS_* variables). A URI may name the model file itself or a
directory/prefix holding exactly one model file with a well-known name for the declared format
(see `MODEL_FILES`). Anything else fails with `ModelLoadError` naming what, where and the fix.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from neuroscale.errors import ModelLoadError

SUPPORTED_SCHEMES: tuple[str, ...] = ("file", "s3")
#: File names recognised inside a directory or prefix, per declared model format.
MODEL_FILES: dict[str, tuple[str, ...]] = {
    "sklearn": ("model.joblib", "model.pkl", "model.pickle"),
    "xgboost": ("model.json", "model.ubj", "model.bst", "model.joblib", "model.pkl", "model.pickle"),
    "lightgbm": ("model.txt", "model.bst", "model.joblib", "model.pkl", "model.pickle"),
    "onnx": ("model.onnx",),
}
ALL_MODEL_FILES = frozenset(name for names in MODEL_FILES.values() for name in names)


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "neuroscale-model-cache"


def resolve(uri: str, *, model_format: str, cache_dir: Path | None = None) -> Path:
    """Return the local model file for `uri`, downloading s3:// objects into `cache_dir`."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file"):
        path = Path(parsed.path if scheme == "file" else uri).expanduser()
        return _pick_local(path, model_format=model_format, where=uri)
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


def resolve_folder(uri: str, *, cache_dir: Path | None = None) -> Path:
    """Return the local directory for `uri` (models made of several files, e.g. Hugging Face ones)."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file"):
        path = Path(parsed.path if scheme == "file" else uri).expanduser()
        if not path.is_dir():
            raise ModelLoadError("model directory not found", where=uri,
                                 fix="point the storage URI at the directory holding the model's files")
        return path
    if scheme == "s3":
        from neuroscale.serving import s3

        return s3.download_folder(bucket=parsed.netloc, prefix=parsed.path.lstrip("/"),
                                  cache_dir=cache_dir or default_cache_dir(), where=uri)
    raise ModelLoadError(f"unsupported storage scheme {scheme!r}", where=uri,
                         fix="use a local path, file://PATH or s3://BUCKET/PREFIX")


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


def _pick_local(path: Path, *, model_format: str, where: str) -> Path:
    if path.is_dir():
        try:
            names = os.listdir(path)
        except OSError as exc:
            raise ModelLoadError(
                f"cannot list the model directory: {exc.strerror}",
                where=where,
                fix="make the directory readable by the model server",
            ) from None
        path = path / pick_model_file(names, model_format=model_format, where=where)
    elif not path.exists():
        raise ModelLoadError(
            "model file not found",
            where=where,
            fix="check the storage URI: the path must exist on this machine (absolute paths are safest)",
        )
    if not os.access(path, os.R_OK):
        raise ModelLoadError(
            "model file is not readable", where=str(path), fix="make the file readable by the model server"
        )
    return path


def describe(exc: Any) -> str:
    """One line for an exception raised by a third-party library."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
