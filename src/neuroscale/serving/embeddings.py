"""Sentence embeddings (`modelFormat: huggingface`) from a sentence-transformers model folder.

The storage URI names a folder as the Hugging Face hub stores a sentence-transformers model
(`config.json`, `modules.json`, `1_Pooling/config.json`, tokenizer files, weights). It is read
locally or from S3 like any other model, never from a hub (`HF_HUB_OFFLINE` is set). Two backends:

* `torch`: sentence-transformers itself (the `huggingface` extra: torch, sentence-transformers);
* `onnx`: the same network exported to `model.onnx` in the folder (see `embeddings_export`), run
  by onnxruntime with the `tokenizers` library, then pooled and normalised here as the folder's
  sentence-transformers modules say. No torch: far smaller, and faster on CPU (see bench/).

`auto` picks onnx when the folder has a `model.onnx`. Either way the model takes one BYTES input
(`text`, one string per row) and answers `embedding`, FP32 [rows, dimension]; rows are
independent, so the adaptive batcher can stack concurrent requests.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroscale.errors import ModelLoadError
from neuroscale.serving.model import Arrays, TensorSpec
from neuroscale.serving.storage import describe

TEXT_INPUT = "text"
EMBEDDING_OUTPUT = "embedding"
ONNX_FILE = "model.onnx"
_FIX_EXTRA = "pip install 'neuroscale[huggingface]' (torch, sentence-transformers)"


@dataclass(frozen=True)
class Pipeline:
    """What the folder's sentence-transformers modules ask for after the transformer."""

    pooling: str  # mean | cls | max
    normalize: bool
    max_length: int
    dimension: int


def read_pipeline(folder: Path) -> Pipeline:
    """Pooling, normalisation, sequence length and dimension from the folder's own config files."""
    try:
        modules = json.loads((folder / "modules.json").read_text())
        pooling_dir = next(m["path"] for m in modules if str(m.get("type", "")).endswith(".Pooling"))
        pooling = json.loads((folder / pooling_dir / "config.json").read_text())
        bert = folder / "sentence_bert_config.json"
        max_length = int(json.loads(bert.read_text()).get("max_seq_length", 256)) if bert.exists() else 256
    except (OSError, ValueError, KeyError, StopIteration, TypeError) as exc:
        raise ModelLoadError(f"not a sentence-transformers model folder: {describe(exc)}", where=str(folder),
                             fix="point the storage URI at a folder saved with SentenceTransformer.save(); it "
                                 "needs modules.json and a Pooling module's config.json") from None
    modes = [mode for mode in ("cls", "max", "mean") if pooling.get(f"pooling_mode_{mode}_token"
                                                                     if mode != "mean" else "pooling_mode_mean_tokens")]
    if len(modes) != 1:
        raise ModelLoadError(f"pooling {modes or 'none'} is not served (one of mean, cls, max)",
                             where=str(folder / pooling_dir), fix="use a model with mean, CLS or max pooling")
    normalize = any(str(m.get("type", "")).endswith(".Normalize") for m in modules)
    return Pipeline(pooling=modes[0], normalize=normalize, max_length=max_length,
                    dimension=int(pooling.get("word_embedding_dimension", -1)))


class EmbeddingModel:
    """A `TensorModel`: texts (BYTES) in, embeddings (FP32) out; `count_tokens` for usage reports."""

    framework = "huggingface"
    batchable = True
    releases_gil = True  # torch and onnxruntime compute without the GIL

    def __init__(self, *, kind: str, source: str, dimension: int, encode: Callable[[list[str]], np.ndarray[Any, Any]],
                 count_tokens: Callable[[list[str]], int]) -> None:
        self.kind = kind
        self.source = source
        self.inputs = (TensorSpec(TEXT_INPUT, "BYTES", [-1]),)
        self.outputs = (TensorSpec(EMBEDDING_OUTPUT, "FP32", [-1, dimension]),)
        self._encode = encode
        self.count_tokens = count_tokens

    def predict(self, inputs: Arrays) -> dict[str, np.ndarray[Any, Any]]:
        texts = texts_of(next(iter(inputs.values())))
        return {EMBEDDING_OUTPUT: np.asarray(self._encode(texts), dtype=np.float32)}


def texts_of(array: np.ndarray[Any, Any]) -> list[str]:
    return [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in array.ravel()]


def load(folder: Path, *, backend: str = "auto") -> EmbeddingModel:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub: the folder is the model
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    pipeline = read_pipeline(folder)
    chosen = ("onnx" if (folder / ONNX_FILE).is_file() else "torch") if backend == "auto" else backend
    model = _onnx(folder, pipeline) if chosen == "onnx" else _torch(folder, pipeline)
    try:
        probe = model.predict({TEXT_INPUT: np.array(["probe"], dtype=object)})[EMBEDDING_OUTPUT]
    except Exception as exc:  # a model that cannot embed one word must not report ready
        raise ModelLoadError(f"the model failed a test embedding: {describe(exc)}", where=str(folder),
                             fix="check the folder holds a complete sentence-transformers model") from None
    if pipeline.dimension != probe.shape[-1]:
        model.outputs = (TensorSpec(EMBEDDING_OUTPUT, "FP32", [-1, int(probe.shape[-1])]),)
    return model


def _torch(folder: Path, pipeline: Pipeline) -> EmbeddingModel:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ModelLoadError("sentence-transformers is not installed", where=str(folder), fix=_FIX_EXTRA) from None
    try:
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except Exception as exc:  # missing weights, a config transformers cannot read, ...
        raise ModelLoadError(f"cannot load the sentence-transformers model: {describe(exc)}", where=str(folder),
                             fix="check the folder holds the model's weights and tokenizer") from None
    tokenizer = model.tokenizer

    def encode(texts: list[str]) -> np.ndarray[Any, Any]:
        return np.asarray(model.encode(texts, batch_size=max(len(texts), 1), convert_to_numpy=True,
                                       show_progress_bar=False))

    def count(texts: list[str]) -> int:
        return sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=pipeline.max_length)["input_ids"])

    return EmbeddingModel(kind="sentence_transformers.SentenceTransformer", source=str(folder),
                          dimension=pipeline.dimension, encode=encode, count_tokens=count)


def _onnx(folder: Path, pipeline: Pipeline) -> EmbeddingModel:
    from neuroscale.serving.onnx_model import session

    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ModelLoadError("the tokenizers library is not installed", where=str(folder),
                             fix="pip install 'neuroscale[onnx]'") from None
    try:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as exc:  # a missing or unreadable tokenizer.json
        raise ModelLoadError(f"cannot read tokenizer.json: {describe(exc)}", where=str(folder),
                             fix="keep the model's tokenizer.json next to model.onnx") from None
    tokenizer.enable_truncation(max_length=pipeline.max_length)
    tokenizer.enable_padding()
    runner = session(folder / ONNX_FILE)
    wanted = {arg.name for arg in runner.get_inputs()}

    def encode(texts: list[str]) -> np.ndarray[Any, Any]:
        batch = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = runner.run(None, {name: value for name, value in feed.items() if name in wanted})[0]
        return pool(hidden, mask, pipeline)

    def count(texts: list[str]) -> int:
        return sum(sum(e.attention_mask) for e in tokenizer.encode_batch(texts))

    return EmbeddingModel(kind="onnxruntime.InferenceSession", source=str(folder / ONNX_FILE),
                          dimension=pipeline.dimension, encode=encode, count_tokens=count)


def pool(hidden: np.ndarray[Any, Any], mask: np.ndarray[Any, Any], pipeline: Pipeline) -> np.ndarray[Any, Any]:
    """Token vectors [rows, tokens, dim] to one vector per row, as sentence-transformers' Pooling does."""
    if pipeline.pooling == "cls":
        pooled = hidden[:, 0]
    elif pipeline.pooling == "max":
        pooled = np.where(mask[..., None] > 0, hidden, -1e9).max(axis=1)
    else:
        weights = mask[..., None].astype(hidden.dtype)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    if pipeline.normalize:
        pooled = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    return pooled.astype(np.float32)
