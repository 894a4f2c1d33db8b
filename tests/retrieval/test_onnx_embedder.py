"""The onnx backend: exported once from the packaged model, cached, and embedding like the torch backend."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.embedder import SentenceEmbedder, default_cache_dir, open_embedder
from retrieval.onnx_embedder import OnnxEmbedder, cached_graph
from retrieval.onnx_export import pooling

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
TEXTS = ["my card has not arrived", "where is my new card?", "what is the exchange rate", "card " * 400]


def test_the_export_is_cached_and_later_opens_reuse_it(
    onnx_embedder: OnnxEmbedder, onnx_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert onnx_embedder.path.is_file() and onnx_embedder.path.is_relative_to(onnx_cache)
    assert onnx_embedder.path.name == "model_int8.onnx" and onnx_embedder.precision == "int8"
    modified = onnx_embedder.path.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="ragway.embedder"):
        again = open_embedder(backend="onnx", cache_dir=onnx_cache, threads=1)
    assert isinstance(again, OnnxEmbedder) and again.path == onnx_embedder.path
    assert again.path.stat().st_mtime_ns == modified
    assert not [r for r in caplog.records if "exporting" in r.getMessage()]
    assert [p.name for p in again.path.parent.iterdir() if not p.name.startswith(".")] == ["model_int8.onnx"]


def test_vectors_match_the_torch_backend(onnx_embedder: OnnxEmbedder, embedder: SentenceEmbedder) -> None:
    vectors = onnx_embedder.encode(TEXTS)
    reference = embedder.encode(TEXTS)
    assert (onnx_embedder.model_id, onnx_embedder.dim) == (embedder.model_id, embedder.dim)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # int8 weights move each vector a little; the long text is cut at the model's 256 tokens either way
    assert np.sum(vectors * reference, axis=1).min() > 0.95
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert onnx_embedder.encode([]).shape == (0, 384)
    # the order of a call's texts (sorted by length inside) does not change any text's vector
    np.testing.assert_allclose(onnx_embedder.encode(TEXTS[::-1])[::-1], vectors, atol=1e-6)
    # activations are quantised per batch, so other company moves a vector a little, never far
    alone = np.vstack([onnx_embedder.encode([text]) for text in TEXTS])
    assert np.sum(alone * vectors, axis=1).min() > 0.98


def test_serving_an_exported_model_does_not_load_torch(onnx_embedder: OnnxEmbedder, onnx_cache: Path) -> None:
    import subprocess

    code = ("import sys; from pathlib import Path; from retrieval.embedder import open_embedder; "
            f"e = open_embedder(backend='onnx', cache_dir=Path({str(onnx_cache)!r})); e.encode(['hello']); "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2], check=True)
    assert done.stdout.strip() == "False"


def test_the_graph_is_exported_once_per_version_of_the_model_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another release of the model package (other files) gets its own export, not the stale one."""
    exports: list[Path] = []

    def fake_export(folder: Path, model: str, target: Path, quantize: bool) -> None:
        exports.append(target)
        target.write_bytes(b"graph")

    monkeypatch.setattr("retrieval.onnx_export.export", fake_export)
    model, cache = tmp_path / "model", tmp_path / "cache"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"1234")
    first = cached_graph(model, "my/model", cache, quantize=True)
    assert cached_graph(model, "my/model", cache, quantize=True) == first and exports == [first]
    assert cached_graph(model, "my/model", cache, quantize=False).name == "model.onnx" and len(exports) == 2
    (model / "weights.bin").write_bytes(b"123456")
    changed = cached_graph(model, "my/model", cache, quantize=True)
    assert changed != first and changed.parent.name.startswith("my-model-") and len(exports) == 3


def test_models_the_graph_cannot_express_are_refused_with_the_way_out(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text('[{"idx": 0, "name": "0", "path": "", "type": "x.Transformer"},'
                                           ' {"idx": 1, "name": "1", "path": "1_Pooling", "type": "x.Pooling"}]')
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_max_tokens": true}')
    with pytest.raises(ValueError, match="backend: torch"):
        pooling(tmp_path)
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    assert pooling(tmp_path) == ("mean", False)


def test_the_default_cache_is_the_users(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "ragway" / "embedders"


def test_the_export_is_small_constant_reshapes_and_no_attention_guards(onnx_embedder: OnnxEmbedder) -> None:
    """A pass of a few short texts pays for every node, so the export leaves out the tracer's shape arithmetic."""
    import onnx

    graph = onnx.load(str(onnx_embedder.path)).graph
    constants = {t.name for t in graph.initializer}
    constants |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    # the 24 head splits and merges of the six layers: each used to compute its target from Shape/Gather/Concat
    in_layers = [n for n in graph.node if n.op_type == "Reshape" and "/layer." in n.name]
    assert len(in_layers) == 24 and all(n.input[1] in constants for n in in_layers)
    # SDPA's trace guards every layer's softmax with IsNaN/Where; the eager trace has none
    assert not [n for n in graph.node if n.op_type in {"IsNaN", "Where"} and "/layer." in n.name]


def test_a_reshape_target_keeps_the_dimensions_that_follow_the_input() -> None:
    from retrieval.onnx_export import _target

    # (batch, tokens, 384) split into 12 heads of 32, and merged back
    assert _target([(2, 7, 384), (3, 11, 384)], [(2, 7, 12, 32), (3, 11, 12, 32)]) == [0, 0, 12, 32]
    assert _target([(2, 7, 12, 32), (3, 11, 12, 32)], [(2, 7, 384), (3, 11, 384)]) == [0, 0, 384]
    # a flattened (batch * tokens) dimension follows no input dimension: ONNX infers it
    assert _target([(2, 7, 384), (3, 11, 384)], [(14, 384), (33, 384)]) == [-1, 384]


def test_a_graph_the_reshape_rewrite_cannot_read_is_kept_as_traced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import onnx

    from retrieval import onnx_export

    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    graph = onnx.helper.make_graph([node], "g", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    path = tmp_path / "model.onnx"
    onnx.save(onnx.helper.make_model(graph), str(path))
    before = path.read_bytes()

    def unreadable(*_: object) -> None:
        raise RuntimeError("no probe")

    monkeypatch.setattr(onnx_export, "_observe", unreadable)
    with caplog.at_level(logging.WARNING, logger="ragway.embedder"):
        onnx_export._constant_reshapes(path)
    assert path.read_bytes() == before
    assert any("no probe" in r.getMessage() for r in caplog.records)


def test_int8_vectors_stay_near_float32_and_near_themselves_alone(
    onnx_embedder: OnnxEmbedder, embedder: SentenceEmbedder, banking77_dir: Path
) -> None:
    """Smoothed activations (retrieval/onnx_smooth.py): without them, these 308 banking77 test questions sat at
    mean cosine 0.9935 to float32 and a question alone moved to cosine 0.980 of itself in a pass of 32."""
    import csv

    with (banking77_dir / "test.csv").open(encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)][::10]
    batched = onnx_embedder.encode(texts, batch_size=32)
    alone = np.vstack([onnx_embedder.encode([text]) for text in texts])
    to_float = np.sum(batched * embedder.encode(texts), axis=1)
    to_alone = np.sum(batched * alone, axis=1)
    assert to_float.mean() > 0.995 and to_float.min() > 0.985
    assert to_alone.mean() > 0.996 and to_alone.min() > 0.99


def test_smoothing_leaves_the_float_model_as_it_was() -> None:
    from transformers import BertConfig, BertModel

    from retrieval.onnx_smooth import smooth

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=3000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, attn_implementation="eager")).eval()
    with torch.no_grad():
        model.encoder.layer[0].attention.output.LayerNorm.weight[3] = 30.0  # an outlier channel, as in BERT
    ids = torch.randint(1000, 3000, (3, 9))
    with torch.no_grad():
        before = model(input_ids=ids).last_hidden_state
        query = model.encoder.layer[1].attention.self.query.weight.clone()
        assert smooth(model) == 4
        after = model(input_ids=ids).last_hidden_state
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)
    assert not torch.equal(model.encoder.layer[1].attention.self.query.weight, query)


def test_smoothing_leaves_layers_of_another_shape_alone() -> None:
    torch = pytest.importorskip("torch")
    from retrieval.onnx_smooth import smooth

    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    weight = model[0].weight.clone()
    assert smooth(model) == 0 and torch.equal(model[0].weight, weight)
