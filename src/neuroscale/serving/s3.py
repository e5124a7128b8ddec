"""Download a model from S3 (or any S3-compatible store) into a local cache.

boto3 reads AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION etc. itself.
Downloads land under `<cache>/<bucket>/<etag>/<name>`: a restart with an unchanged object reuses
the file, a changed object gets a fresh directory. Writes go to a temp name, then `os.replace`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from neuroscale.errors import ModelLoadError
from neuroscale.serving.storage import MAX_FOLDER_FILES, describe, pick_model_file

_FIX = (
    "check the bucket and key, the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) "
    "and AWS_ENDPOINT_URL for S3-compatible stores"
)


def download(*, bucket: str, key: str, model_format: str, cache_dir: Path, where: str) -> Path:
    """Fetch the model object (a key, or the single model file under a prefix) and return its local path."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    if not bucket:
        raise ModelLoadError("s3 URI has no bucket", where=where, fix="use s3://BUCKET/KEY")
    try:
        client = boto3.client("s3")
        obj = _find_object(client, bucket=bucket, key=key, model_format=model_format, where=where)
        etag, object_key = str(obj["ETag"]).strip('"'), str(obj["Key"])
        target: Path = cache_dir / bucket / etag / object_key.rsplit("/", 1)[-1]
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.part")
            client.download_file(bucket, object_key, str(partial))
            os.replace(partial, target)
        return target
    except (BotoCoreError, ClientError) as exc:
        raise ModelLoadError(f"cannot fetch the model from S3: {describe(exc)}", where=where, fix=_FIX) from None
    except OSError as exc:
        raise ModelLoadError(
            f"cannot write the model cache: {describe(exc)}",
            where=str(cache_dir),
            fix="pass a writable --cache-dir",
        ) from None


def _find_object(client: Any, *, bucket: str, key: str, model_format: str, where: str) -> dict[str, Any]:
    """The object at `key` if it exists, else the single model file directly under the prefix `key/`."""
    prefix = key.rstrip("/")
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    objects: dict[str, dict[str, Any]] = {obj["Key"]: obj for obj in listing.get("Contents", [])}
    if key in objects and not key.endswith("/"):
        return objects[key]
    folder = f"{prefix}/" if prefix else ""
    children = {k[len(folder):]: obj for k, obj in objects.items() if k.startswith(folder)}
    names = [name for name in children if name and "/" not in name]
    if not names:
        raise ModelLoadError("no object at this key or prefix", where=where, fix=_FIX)
    return children[pick_model_file(names, model_format=model_format, where=where)]




def download_folder(*, bucket: str, prefix: str, cache_dir: Path, where: str) -> Path:
    """Fetch every object under `prefix/` into one cache directory (reused while no object changes)."""
    import hashlib

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    if not bucket:
        raise ModelLoadError("s3 URI has no bucket", where=where, fix="use s3://BUCKET/PREFIX")
    folder = f"{prefix.rstrip('/')}/" if prefix.strip("/") else ""
    try:
        client = boto3.client("s3")
        objects: list[dict[str, Any]] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
            objects += [obj for obj in page.get("Contents", []) if not str(obj["Key"]).endswith("/")]
            if len(objects) > MAX_FOLDER_FILES:
                raise ModelLoadError(f"more than {MAX_FOLDER_FILES} objects under the prefix", where=where,
                                     fix="point the storage URI at the model's own folder")
        if not objects:
            raise ModelLoadError("no objects under this prefix", where=where, fix=_FIX)
        digest = hashlib.sha256("".join(f"{o['Key']}={o['ETag']};" for o in objects).encode()).hexdigest()[:16]
        target: Path = cache_dir / bucket / f"folder-{digest}"
        if not (target / ".complete").is_file():
            for obj in objects:
                relative = Path(str(obj["Key"])[len(folder):])
                if relative.is_absolute() or ".." in relative.parts:
                    raise ModelLoadError(f"object key {obj['Key']!r} escapes the prefix", where=where,
                                         fix="remove objects whose keys contain '..'")
                local = target / relative
                local.parent.mkdir(parents=True, exist_ok=True)
                partial = local.with_name(f".{local.name}.{os.getpid()}.part")
                client.download_file(bucket, str(obj["Key"]), str(partial))
                os.replace(partial, local)
            (target / ".complete").touch()
        return target
    except (BotoCoreError, ClientError) as exc:
        raise ModelLoadError(f"cannot fetch the model from S3: {describe(exc)}", where=where, fix=_FIX) from None
    except OSError as exc:
        raise ModelLoadError(f"cannot write the model cache: {describe(exc)}", where=str(cache_dir),
                             fix="pass a writable --cache-dir") from None
