"""Export a sentence-transformers model folder to one ONNX graph: encoder, pooling and normalisation.

The graph takes token ids and returns the sentence vectors, so serving needs only a tokenizer and
ONNX Runtime. Weights are int8 when asked (dynamic quantisation: no calibration data). Exporting
needs torch; retrieval/onnx_embedder.py calls it once and caches the file.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformer

from retrieval.onnx_embedder import INPUT_NAMES

log = logging.getLogger("ragway.embedder")

OUTPUT = "sentence_embedding"


def pooling(folder: Path) -> tuple[str, bool]:
    """("mean" | "cls", normalise?) as the model's modules.json and pooling config say."""
    modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    kinds = {module["type"].rsplit(".", 1)[-1]: module.get("path", "") for module in modules}
    if set(kinds) - {"Transformer", "Pooling", "Normalize"} or "Pooling" not in kinds:
        raise ValueError(f"the onnx backend handles Transformer, Pooling and Normalize modules; {folder} has "
                         f"{', '.join(kinds)} (use embedder.backend: torch)")
    config = json.loads((folder / kinds["Pooling"] / "config.json").read_text(encoding="utf-8"))
    chosen = [key for key, on in config.items() if key.startswith("pooling_mode") and on]
    mode = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}.get(chosen[0]) if chosen else None
    if mode is None or len(chosen) != 1:
        raise ValueError(f"the onnx backend handles mean or CLS pooling; {folder} asks for {chosen} "
                         "(use embedder.backend: torch)")
    return mode, "Normalize" in kinds


def export(folder: Path, model: str, target: Path, quantize: bool) -> None:
    """Write the ONNX graph of the model in *folder* to *target*; the file appears whole or not at all."""
    started = time.perf_counter()
    log.info("exporting embedder %s to ONNX%s in %s (done once; later starts load the file)",
             model, " with int8 weights" if quantize else "", target.parent)
    plain = target.with_name(f".plain-{os.getpid()}.onnx")
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        _trace(folder, plain)
        if quantize:
            _quantize(plain, partial)
        else:
            plain.replace(partial)
        partial.replace(target)
    finally:
        plain.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    log.info("exported embedder %s to %s in %.1f s", model, target, time.perf_counter() - started)


def _quantize(plain: Path, out: Path) -> None:
    """int8 weights for every MatMul with constant weights; activations quantised on the fly."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # the quantiser logs a line per tensor on the root logger: keep them out of the server's log
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(plain, out, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)


def _trace(folder: Path, out: Path) -> None:
    mode, normalise = pooling(folder)
    encoder: Any = SentenceTransformer(str(folder), device="cpu")[0].auto_model
    encoder.eval()
    graph = _SentenceGraph(encoder, mode, normalise).eval()
    sample = torch.ones(2, 8, dtype=torch.long)
    axes: dict[str, Any] = {name: {0: "batch", 1: "tokens"} for name in INPUT_NAMES}
    # the tracer warns about every Python-level branch in the model's code: noise for whoever reads the log
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (sample, sample, torch.zeros_like(sample)), str(out), input_names=list(INPUT_NAMES),
                          output_names=[OUTPUT], dynamic_axes={**axes, OUTPUT: {0: "batch"}}, opset_version=17,
                          dynamo=False)


class _SentenceGraph(torch.nn.Module):
    """Encoder, then the model's pooling and normalisation, as one traceable module."""

    def __init__(self, encoder: Any, mode: str, normalise: bool) -> None:
        super().__init__()
        self.encoder, self.mode, self.normalise = encoder, mode, normalise

    def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        if self.mode == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1) if self.normalise else pooled
