"""`python -m neuroscale.serving.embeddings_export SRC DST`: add `model.onnx` to a sentence-transformers folder.

Copies the folder SRC to DST and exports its transformer (token ids, attention mask, token types
-> last hidden state, dynamic batch and sequence axes) to DST/model.onnx with torch's exporter, so
the `onnx` embeddings backend can serve DST without torch installed. Needs the `huggingface` extra
once, where the export runs; pooling and normalisation stay in the folder's own config files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neuroscale.serving.embeddings import ONNX_FILE

_NAMES = ["input_ids", "attention_mask", "token_type_ids"]


def export(source: Path, target: Path) -> Path:
    """Copy `source` to `target` (if different) and write `target/model.onnx`; returns its path."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    if source.resolve() != target.resolve():
        shutil.copytree(source, target, dirs_exist_ok=True)
    model = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()
    tokens = AutoTokenizer.from_pretrained(str(source))(["an example sentence", "two"], padding=True,
                                                         return_tensors="pt")

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    args = tuple(tokens.get(name, torch.zeros_like(tokens["input_ids"])) for name in _NAMES)
    axes = {name: {0: "batch", 1: "sequence"} for name in [*_NAMES, "last_hidden_state"]}
    path = target / ONNX_FILE
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's tracer notes about constants that hold for BERT
        torch.onnx.export(LastHiddenState(model), args, str(path), input_names=_NAMES,
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neuroscale.serving.embeddings_export", description=__doc__)
    parser.add_argument("source", type=Path, help="a sentence-transformers model folder")
    parser.add_argument("target", type=Path, help="where to write the folder with model.onnx")
    ns = parser.parse_args(argv)
    try:
        print(export(ns.source, ns.target))
    except ImportError:
        print("the export needs torch and transformers: pip install 'neuroscale[huggingface]'", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
