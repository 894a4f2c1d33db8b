"""Export a sentence-transformers model folder to one ONNX graph: encoder, pooling and normalisation.

The graph takes token ids and returns the sentence vectors, so serving needs only a tokenizer and
ONNX Runtime. Weights are int8 when asked (dynamic quantisation after the activation smoothing of
retrieval/onnx_smooth.py; no calibration data). Exporting needs torch; retrieval/onnx_embedder.py
calls it once and caches the file.

The graph is kept small because a pass of a few short texts pays for every node: attention is traced
in its plain ("eager") form, without the masking guards the fused kernel's trace adds, and every
Reshape gets a constant target instead of the Shape/Gather/Concat arithmetic the tracer writes for
it. Both together take 329 nodes to about 208 after ORT's own fusions.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from sentence_transformers import SentenceTransformer

from retrieval.onnx_embedder import INPUT_NAMES
from retrieval.onnx_smooth import smooth

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
        _trace(folder, plain, quantize)
        _constant_reshapes(plain)
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


def _trace(folder: Path, out: Path, smoothed: bool) -> None:
    mode, normalise = pooling(folder)
    # eager attention traces to MatMul, Add and Softmax; SDPA's trace adds IsNaN/Where guards to every layer
    encoder: Any = SentenceTransformer(str(folder), device="cpu",
                                       model_kwargs={"attn_implementation": "eager"})[0].auto_model
    encoder.eval()
    if smoothed:  # for int8 only: in float32 the smoothing changes nothing but adds a multiply per input
        log.info("smoothed %d layer inputs for int8 (retrieval/onnx_smooth.py)", smooth(encoder))
    graph = _SentenceGraph(encoder, mode, normalise).eval()
    sample = torch.ones(2, 8, dtype=torch.long)
    axes: dict[str, Any] = {name: {0: "batch", 1: "tokens"} for name in INPUT_NAMES}
    # the tracer warns about every Python-level branch in the model's code: noise for whoever reads the log
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (sample, sample, torch.zeros_like(sample)), str(out), input_names=list(INPUT_NAMES),
                          output_names=[OUTPUT], dynamic_axes={**axes, OUTPUT: {0: "batch"}}, opset_version=17,
                          dynamo=False)


# (batch, tokens) inputs the reshapes are observed on: three, so no dimension is equal by chance
PROBES = ((2, 7), (3, 11), (5, 4))


def _constant_reshapes(path: Path) -> None:
    """Give each Reshape of the graph at *path* a constant target shape, then drop what no longer feeds
    anything. A dimension that follows its input's is 0 (kept), one that never changes is its value,
    the rest -1; the rewrite is kept only when the graph's outputs are unchanged on the probes."""
    try:
        model = _with_constant_reshapes(onnx.load(str(path)))
    except Exception as exc:  # a graph this rewrite cannot read still serves as traced, a little slower
        log.warning("left the traced graph's reshapes as they are: %s", exc)
        return
    if model is not None:
        onnx.save(model, str(path))


def _with_constant_reshapes(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """*model* rewritten as `_constant_reshapes` says, or None when that changed its outputs."""
    graph = model.graph
    constant = {t.name for t in graph.initializer}
    constant |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    reshapes = [n for n in graph.node if n.op_type == "Reshape" and n.input[1] not in constant]
    outputs = [o.name for o in graph.output]
    # one probe session reads the reshapes' tensors and the outputs the rewrite must keep
    seen = _observe(model, sorted({x for n in reshapes for x in (n.input[0], n.output[0])} | set(outputs)))
    for node in reshapes:
        target = _target([s[node.input[0]].shape for s in seen], [s[node.output[0]].shape for s in seen])
        if target.count(-1) <= 1:
            name = f"{node.output[0]}/constant_shape"
            graph.initializer.append(onnx.numpy_helper.from_array(np.array(target, dtype=np.int64), name))
            node.input[1] = name
    _prune(graph)
    after = _observe(model, outputs)
    if all(np.allclose(was[k], now[k], atol=1e-5) for was, now in zip(seen, after, strict=True) for k in now):
        return model
    log.warning("constant reshape targets changed the graph's outputs; the traced graph is kept")
    return None


def _target(inputs: list[tuple[int, ...]], outputs: list[tuple[int, ...]]) -> list[int]:
    """The Reshape target that gives *outputs* from *inputs* on every probe (0: the input's dimension)."""
    target = []
    for d in range(len(outputs[0])):
        sizes = {shape[d] for shape in outputs}
        if len(sizes) > 1 and all(d < len(i) and o[d] == i[d] for i, o in zip(inputs, outputs, strict=True)):
            target.append(0)
        else:
            target.append(sizes.pop() if len(sizes) == 1 else -1)
    return target


def _observe(model: onnx.ModelProto, names: list[str]) -> list[dict[str, Any]]:
    """The values of the tensors *names* on each probe, by name."""
    import onnxruntime as ort

    probe = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in [*probe.graph.value_info, *probe.graph.output]}
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(n, types[n], None) for n in names)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    out = []
    for batch, tokens in PROBES:
        feeds = {name: rng.integers(1, 1000, (batch, tokens)) for name in INPUT_NAMES}
        feeds["attention_mask"] = (np.arange(tokens) < rng.integers(1, tokens + 1, (batch, 1))).astype(np.int64)
        feeds["token_type_ids"] = np.zeros((batch, tokens), dtype=np.int64)
        out.append(dict(zip(names, session.run(names, feeds), strict=True)))
    return out


def _prune(graph: onnx.GraphProto) -> None:
    """Drop the nodes none of the graph's outputs depends on."""
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))


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
