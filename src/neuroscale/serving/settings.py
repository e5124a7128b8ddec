"""Settings of one model-server process, parsed from its command line.

The command line is the contract with the engine (see the "Model server process" contract):
argparse (stdlib) keeps process start fast; typer/rich would cost import time on every restart.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from neuroscale import httplimits

MODEL_FORMATS: tuple[str, ...] = ("sklearn", "xgboost", "lightgbm", "onnx", "huggingface", "custom")
EMBEDDING_BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx")


@dataclass(frozen=True)
class ServingSettings:
    """Everything the server needs; `home` and `revision` also mark the process for the engine."""

    model_name: str
    model_format: str
    storage_uri: str
    port: int
    host: str = "127.0.0.1"
    cache_dir: Path | None = None
    limits: httplimits.HttpLimits = field(default_factory=httplimits.HttpLimits)
    revision: str = ""
    home: str = ""
    max_batch_size: int = 0  # 0: no batching
    max_latency_ms: int = 500
    grpc_port: int | None = None  # None: no gRPC listener
    model_class: str = ""  # custom predictor, package.module:Class
    transformer_class: str = ""  # transformer chained in front of the predictor
    backend: str = "auto"  # huggingface: torch (sentence-transformers) or onnx (onnxruntime)
    model_roots: tuple[Path, ...] = ()  # local model files must resolve under one of these

    @property
    def max_body_bytes(self) -> int:
        return self.limits.max_body_bytes


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m neuroscale.serving",
        description="Serve one model over KServe V1 and Open Inference Protocol V2 REST.",
    )
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--model-format", required=True, choices=MODEL_FORMATS)
    parser.add_argument(
        "--storage-uri", default="", help="local path, file://PATH or s3://BUCKET/KEY-OR-PREFIX"
    )
    parser.add_argument("--port", required=True, type=_port)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where s3:// models are downloaded")
    httplimits.add_arguments(parser)
    parser.add_argument("--revision", default="", help="revision marker (also the V2 model version)")
    parser.add_argument("--home", default="", help="platform home marker, so the engine can find its processes")
    parser.add_argument("--max-batch-size", type=_positive_int, default=0,
                        help="batch concurrent requests, up to this many rows per predict call (default: off)")
    parser.add_argument("--max-latency-ms", type=_positive_int, default=500,
                        help="the batcher's latency bound (InferenceService batcher.maxLatency)")
    parser.add_argument("--grpc-port", type=_port, default=None,
                        help="also serve the Open Inference Protocol over gRPC on this port")
    parser.add_argument("--model-class", default="", help="custom predictor class, package.module:Class")
    parser.add_argument("--transformer-class", default="",
                        help="transformer class chained in front of the predictor, package.module:Class")
    parser.add_argument("--backend", choices=EMBEDDING_BACKENDS, default="auto",
                        help="huggingface embeddings: torch (sentence-transformers) or onnx (model.onnx)")
    parser.add_argument("--model-root", type=Path, action="append", default=[], dest="model_roots",
                        help="a directory local model files may come from (repeatable; default: HOME/models "
                             "when --home is given, else none: local paths are refused)")
    return parser


def _roots(given: Sequence[Path], home: str) -> tuple[Path, ...]:
    chosen = list(given) or ([Path(home) / "models"] if home else [])
    return tuple(dict.fromkeys(root.expanduser().resolve() for root in chosen))


def parse_args(argv: Sequence[str] | None = None) -> ServingSettings:
    """Parse the command line; argparse exits with code 2 on a usage error."""
    ns = _parser().parse_args(argv)
    return ServingSettings(
        model_name=ns.model_name,
        model_format=ns.model_format,
        storage_uri=ns.storage_uri,
        port=ns.port,
        host=ns.host,
        cache_dir=ns.cache_dir,
        limits=httplimits.from_arguments(ns),
        revision=ns.revision,
        home=ns.home,
        max_batch_size=ns.max_batch_size,
        max_latency_ms=ns.max_latency_ms,
        grpc_port=ns.grpc_port,
        model_class=ns.model_class,
        transformer_class=ns.transformer_class,
        backend=ns.backend,
        model_roots=_roots(ns.model_roots, ns.home),
    )
