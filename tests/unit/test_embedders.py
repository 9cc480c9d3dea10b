"""Choosing the embedding backend (RAG_EMBED_BACKEND), the export cache and the exported
embedder's batching, with fakes: no model is loaded or exported here (tests/integration/
test_embed_backend.py runs the real ones)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import rag.embedders as embedders
from rag.embedders import (
    ExportedEmbedder,
    SentenceTransformerEmbedder,
    export_cache_dir,
    export_model,
    export_problem,
    make_embedder,
    resolve_backend,
)
from rag.engine import RAG
from rag.errors import ConfigError, IndexMismatchError, ModelError
from rag.settings import Settings
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.unit.inprocess import parse_in_process  # noqa: F401 (autouse)


def fake_model_dir(path, pooling="pooling_mode_mean_tokens", modules=("Transformer", "Pooling", "Normalize")):
    """A folder laid out as a sentence-transformers model (no weights that load)."""
    path.mkdir(parents=True)
    folders = {"Transformer": "", "Pooling": "1_Pooling", "Normalize": "2_Normalize"}
    (path / "modules.json").write_text(
        json.dumps(
            [
                {"idx": i, "path": folders.get(m, m), "type": f"sentence_transformers.models.{m}"}
                for i, m in enumerate(modules)
            ]
        )
    )
    (path / "1_Pooling").mkdir()
    (path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": False, pooling: True}))
    (path / "config.json").write_text(json.dumps({"hidden_size": 4}))
    (path / "model.safetensors").write_bytes(b"0" * 100)
    return path


@pytest.fixture
def installed(monkeypatch):
    """Pretend which exported backends' packages are installed."""
    present: set[str] = set()
    monkeypatch.setattr(embedders, "_installed", lambda backend: backend in present)
    return present


def test_an_explicit_backend_is_used_as_given():
    for backend in ("torch", "onnx", "onnx-int8", "openvino"):
        assert resolve_backend(backend, "bundled", "cpu") == backend


def test_an_unknown_backend_names_the_setting_and_the_choices():
    with pytest.raises(ConfigError, match="RAG_EMBED_BACKEND='tensorrt' is not one of auto, torch, onnx"):
        resolve_backend("tensorrt", "bundled")
    with pytest.raises(ConfigError, match="RAG_EMBED_BACKEND"):
        make_embedder(Settings(embed_backend="fast"))


def test_auto_is_torch_while_no_faster_backend_has_matched_its_quality(installed):
    installed.update({"onnx", "onnx-int8", "openvino"})
    assert embedders.AUTO_ORDER == ()  # docs/benchmarks.md: each measured slower or below torch
    assert resolve_backend("auto", "bundled", "cpu") == "torch"
    assert isinstance(make_embedder(Settings()), SentenceTransformerEmbedder)


def test_auto_picks_the_first_installed_backend_of_its_list(installed, monkeypatch, tmp_path):
    monkeypatch.setattr(embedders, "AUTO_ORDER", ("openvino", "onnx"))
    model = str(fake_model_dir(tmp_path / "m"))
    assert resolve_backend("auto", model, "cpu") == "torch"  # nothing exported is installed
    installed.add("onnx-int8")  # installed, but not in the list: never chosen by auto
    assert resolve_backend("auto", model, "cpu") == "torch"
    installed.add("onnx")
    assert resolve_backend("auto", model, "cpu") == "onnx"
    installed.add("openvino")
    assert resolve_backend("auto", model, "cpu") == "openvino"


def test_auto_keeps_torch_on_a_gpu_and_for_models_it_cannot_export(installed, monkeypatch, tmp_path):
    monkeypatch.setattr(embedders, "AUTO_ORDER", ("openvino",))
    installed.add("openvino")
    model = str(fake_model_dir(tmp_path / "m"))
    assert resolve_backend("auto", model, "cpu") == "openvino"
    assert resolve_backend("auto", model, "cuda") == "torch"
    assert resolve_backend("auto", "BAAI/bge-small-en-v1.5", "cpu") == "torch"  # not a local folder
    max_pooled = fake_model_dir(tmp_path / "max", pooling="pooling_mode_max_tokens")
    assert resolve_backend("auto", str(max_pooled), "cpu") == "torch"


def test_the_factory_maps_each_backend_to_its_class_without_loading_anything(tmp_path):
    s = Settings(data_dir=tmp_path, embed_backend="torch")
    assert isinstance(make_embedder(s), SentenceTransformerEmbedder)
    assert isinstance(SentenceTransformerEmbedder.from_settings(s), SentenceTransformerEmbedder)
    for backend in ("onnx", "onnx-int8", "openvino"):
        emb = make_embedder(s.replace(embed_backend=backend, embed_batch_size=8, embed_passage_prefix="p: "))
        assert isinstance(emb, ExportedEmbedder) and emb.backend == backend
        assert (emb.data_dir, emb.batch_size, emb.passage_prefix, emb._loaded) == (tmp_path, 8, "p: ", None)


def test_what_can_be_exported(tmp_path):
    assert export_problem(fake_model_dir(tmp_path / "mean")) is None
    assert export_problem(fake_model_dir(tmp_path / "cls", pooling="pooling_mode_cls_token")) is None
    assert "pooling" in export_problem(fake_model_dir(tmp_path / "max", pooling="pooling_mode_max_tokens"))
    assert "modules" in export_problem(fake_model_dir(tmp_path / "dense", modules=("Transformer", "Pooling", "Dense")))
    assert "not a local folder" in export_problem(None)


def test_the_export_is_cached_in_the_data_directory_under_a_key_of_the_model_files(tmp_path):
    model = fake_model_dir(tmp_path / "m")
    data = tmp_path / "data"
    onnx = export_cache_dir(data, model, "all-MiniLM-L6-v2", "onnx")
    assert onnx.parent == data / "models" and onnx.name.startswith("embed-all-MiniLM-L6-v2-onnx-")
    assert onnx == export_cache_dir(data, model, "all-MiniLM-L6-v2", "onnx")
    assert onnx != export_cache_dir(data, model, "all-MiniLM-L6-v2", "openvino")
    (model / "model.safetensors").write_bytes(b"0" * 101)  # other weights: another export
    assert onnx != export_cache_dir(data, model, "all-MiniLM-L6-v2", "onnx")


def test_a_cached_export_is_used_without_exporting_again(installed, tmp_path):
    dest = tmp_path / "cache"
    dest.mkdir()
    (dest / "model.onnx").write_bytes(b"exported before")
    assert export_model(tmp_path / "no-model", dest, "onnx") == dest / "model.onnx"  # no package needed either


def test_a_missing_runtime_names_the_setting_and_the_package(installed, tmp_path):
    model = fake_model_dir(tmp_path / "m")
    with pytest.raises(ModelError) as err:
        export_model(model, tmp_path / "cache", "openvino")
    assert "RAG_EMBED_BACKEND=openvino" in str(err.value) and "openvino package" in str(err.value)
    assert "make setup" in str(err.value) and "RAG_EMBED_BACKEND=torch" in str(err.value)
    with pytest.raises(ModelError, match="onnxruntime package"):
        export_model(model, tmp_path / "cache", "onnx-int8")
    assert not (tmp_path / "cache").exists()


def test_an_exported_backend_needs_a_local_model_folder(tmp_path):
    emb = ExportedEmbedder("BAAI/bge-small-en-v1.5", "onnx", tmp_path)
    with pytest.raises(ModelError, match="RAG_EMBED_BACKEND=onnx needs RAG_EMBED_MODEL to be a local model folder"):
        emb.embed_query("hello")


class CharTokenizer:
    """One token id per character (its code), like a tokenizer's ``input_ids``."""

    pad_token_id = 0

    def __call__(self, texts, truncation=True, max_length=512, **_):
        return {"input_ids": [[ord(c) for c in t][:max_length] for t in texts]}


def loaded(emb: ExportedEmbedder, dim: int = 3, max_len: int = 6, lower: bool = False):
    """Give ``emb`` a fake runtime that records its batches; vector = (tokens, first id, 1) normalised."""
    batches = []

    def run(feeds):
        ids, mask = feeds["input_ids"], feeds["attention_mask"]
        batches.append((ids.copy(), mask.copy()))
        v = np.stack([mask.sum(1), ids[:, 0], np.ones(len(ids))], axis=1).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    emb._loaded = (CharTokenizer(), max_len, lower, dim, None, run)
    emb._query_run = run
    return batches


def test_batches_are_length_sorted_and_padded_and_vectors_come_back_in_input_order():
    emb = ExportedEmbedder(batch_size=2, passage_prefix=">")
    batches = loaded(emb)
    texts = ["a", "bbbb", "cc", "ddd", "eeeeeeeeee"]  # the last is cut at max_len tokens
    vecs = emb.embed_passages(texts)
    assert vecs.shape == (5, 3) and vecs.dtype == np.float32
    assert [b[0].shape for b in batches] == [(2, 6), (2, 4), (1, 2)]  # longest first, few pads
    for ids, mask in batches:
        assert ((ids != 0) == (mask == 1)).all()
    lengths = [min(len(t) + 1, 6) for t in texts]
    firsts = [ord(">")] * 5
    expect = np.array([[n, f, 1] for n, f in zip(lengths, firsts)], dtype=np.float32)
    np.testing.assert_allclose(vecs, expect / np.linalg.norm(expect, axis=1, keepdims=True), rtol=1e-6)
    assert emb.embed_passages([]).shape == (0, 3)


def test_the_query_gets_its_prefix_and_lower_casing_when_the_model_asks_for_it():
    emb = ExportedEmbedder(query_prefix="Q ")
    batches = loaded(emb, lower=True)
    emb.embed_query("Hi")
    assert batches[-1][0].tolist() == [[ord(c) for c in "q hi"]]


def test_int8_vectors_are_named_apart_and_the_others_share_torchs_name(settings, tmp_path):
    """int8's vectors differ beyond tolerance (lowest cosine to float32 0.98, under 0.99), so an
    index built with it is refused by any other backend until `rag reindex`; ONNX and OpenVINO
    float vectors are the same space as torch's (cosine > 0.9999) and share one index."""
    torch_name = SentenceTransformerEmbedder().name
    assert ExportedEmbedder(backend="onnx").name == torch_name
    assert ExportedEmbedder(backend="openvino").name == torch_name
    int8_name = ExportedEmbedder(backend="onnx-int8").name
    assert int8_name != torch_name and "int8" in int8_name

    def named(name):
        return type("Named", (FakeEmbedder,), {"name": name})()

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ferry.md").write_text("The ferry leaves at noon from pier seven.")
    built = RAG(settings, named(torch_name), FakeGenerator())  # e.g. ingested with openvino
    assert built.ingest_paths([docs]).count("added") == 1
    built.store.close()
    assert RAG(settings, named(torch_name), FakeGenerator()).search("ferry", k=1)[0].doc == "ferry.md"
    with pytest.raises(IndexMismatchError, match="rag reindex"):
        RAG(settings, named(int8_name), FakeGenerator()).search("ferry")


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed_passages(self, texts):
        self.texts.extend(texts)
        return super().embed_passages(texts)


def test_each_sentence_vector_is_embedded_once_and_a_whole_chunk_sentence_not_again(settings, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "title.md").write_text("Harbour timetable.")  # one chunk that is one sentence
    words = " ".join(f"w{i}" for i in range(20))
    long_text = " ".join(f"Sentence {i} about the ferry {words}." for i in range(12))  # overlapping chunks
    (docs / "long.md").write_text(long_text)
    emb = CountingEmbedder()
    rag = RAG(settings, emb, FakeGenerator())
    report = rag.ingest_paths([docs])
    chunks = [t for d in rag.store.documents() for t in rag.store.chunk_texts(d.id)]
    assert len(chunks) > 2 and report.sentences > 0
    sentence_texts = emb.texts[len(chunks) :]  # after the chunks, the sentence step
    assert len(sentence_texts) == len(set(sentence_texts))  # none twice, overlap or not
    assert "Harbour timetable." not in sentence_texts  # the chunk's own vector was reused
    stored = rag.store.sentence_vectors(["Harbour timetable."])
    np.testing.assert_allclose(stored["Harbour timetable."], emb.embed_query("Harbour timetable."), atol=1e-6)
