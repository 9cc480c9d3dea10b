"""Embedders: the ``Embedder`` protocol, its sentence-transformers implementation (torch) and the
same model exported to ONNX Runtime or OpenVINO (RAG_EMBED_BACKEND)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import ConfigError, ModelError
from rag.settings import BUNDLED, Settings

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str  # identifies the vector space; stored with the index
    dim: int
    max_tokens: int  # word pieces the model reads per passage (prefix excluded)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]: ...


def pick_device(wanted: str) -> str:
    if wanted and wanted != "auto":
        return wanted
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bfloat16 instructions (AVX512-BF16 or AMX), where it is fast."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def pick_dtype(wanted: str, device: str) -> str:
    """``auto``: float16 on CUDA, bfloat16 on CPUs that compute it natively, else float32.

    On such a CPU bfloat16 embeds ~1.7x faster (same process, interleaved); vectors stay
    within cosine 0.996 of float32, and page Recall@5 on eval/corpus.jsonl and
    eval/sample_docs.jsonl was unchanged (0.947 and 1.0; docs/benchmarks.md).
    """
    if wanted and wanted != "auto":
        return wanted
    if device.startswith("cuda"):
        return "float16"
    return "bfloat16" if device == "cpu" and cpu_has_native_bf16() else "float32"


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use.

    ``model`` is "bundled" (all-MiniLM-L6-v2 from the installed package), a model name
    (downloaded by sentence-transformers when online) or a local folder.
    """

    def __init__(
        self,
        model: str = BUNDLED,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 64,
        device: str = "auto",
        dtype: str = "auto",
    ) -> None:
        from rag.models import EMBED_NAME

        self.model_ref = model
        self.name = EMBED_NAME if model == BUNDLED else model
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self._device = device
        self._dtype = dtype
        self._model = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, s: Settings) -> Embedder:
        """The embedder the settings ask for, whichever backend runs it (see make_embedder)."""
        return make_embedder(s)

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        from rag.models import bundled_embedding_dir

        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:  # pragma: no cover
            raise ModelError("sentence-transformers is not installed: run `make setup`") from e
        path = str(bundled_embedding_dir()) if self.model_ref == BUNDLED else self.model_ref
        device = pick_device(self._device)
        try:
            model = SentenceTransformer(path, device=device)
        except Exception as e:  # noqa: BLE001 - surface any loading failure as a ModelError
            raise ModelError(f"cannot load embedding model '{self.name}' ({e})") from None
        dtype = pick_dtype(self._dtype, device)
        if dtype != "float32":
            import torch

            model = model.to(getattr(torch, dtype))
        logger.info("embedding model %s on %s (%s)", self.name, device, dtype)
        return model

    @property
    def device(self) -> str:
        return str(self.model.device)

    @property
    def dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_tokens(self) -> int:
        limit = int(self.model.max_seq_length) - 2  # [CLS] and [SEP]
        if self.passage_prefix:
            limit -= len(self.model.tokenizer(self.passage_prefix, add_special_tokens=False)["input_ids"])
        return max(8, limit)

    def offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        tok = self.model.tokenizer
        enc = tok(list(texts), add_special_tokens=False, return_offsets_mapping=True, truncation=False)
        return [[(int(a), int(b)) for a, b in o] for o in enc["offset_mapping"]]

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [self.passage_prefix + t for t in texts]
        vecs = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        model = self.model
        with _one_thread(model):
            vec = model.encode(
                [self.query_prefix + text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return np.ascontiguousarray(vec[0], dtype=np.float32)


def make_embedder(s: Settings) -> Embedder:
    """Map RAG_EMBED_BACKEND to an embedder: the one place where a backend name becomes a class."""
    backend = resolve_backend(s.embed_backend, s.embed_model, s.embed_device)
    if backend != "torch":
        return ExportedEmbedder(
            s.embed_model, backend, s.data_dir, s.embed_query_prefix, s.embed_passage_prefix, s.embed_batch_size
        )
    return SentenceTransformerEmbedder(
        s.embed_model, s.embed_query_prefix, s.embed_passage_prefix, s.embed_batch_size, s.embed_device, s.embed_dtype
    )


_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = 0


@contextmanager
def _one_thread(model) -> Iterator[None]:
    """Run one short text on one CPU thread.

    A single query is too little work to share: a second thread only adds
    synchronisation, and on a busy machine its spin-waiting made queries ~8x slower
    (bench/search.py). torch's setting is process-wide, so overlapping queries share
    one counter and the last one out restores the previous value. GPUs are left alone.
    """
    global _threads_users, _threads_before
    import torch

    if model.device.type != "cpu":
        yield
        return
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_before)


# -- exported backends: the same model run by ONNX Runtime or OpenVINO --------------------------
#
# sentence-transformers' own backend="onnx" / "openvino" loaders go through optimum
# (optimum-onnx, optimum-intel), whose releases require transformers < 4.58 / < 5.6 and so
# cannot be installed beside the transformers this project pins. The export is therefore
# done here with the same pieces they use: torch.onnx.export of the model's transformer
# with its pooling and normalisation appended, onnxruntime.quantization.quantize_dynamic
# (per-channel int8 weights, what sentence-transformers' export_dynamic_quantized_onnx_model
# runs through optimum) and openvino.convert_model. It runs once, offline, from the local
# model folder, into <data_dir>/models/ (as the converted generator is cached).

BACKENDS = ("auto", "torch", "onnx", "onnx-int8", "openvino")
# What ``auto`` tries before torch, fastest first, on a CPU: only backends faster than torch
# whose page Recall@5 and answer accuracy were within 0.01 of torch's on eval/corpus.jsonl,
# corpus_d.jsonl and sample_docs.jsonl (docs/benchmarks.md, "Embedding backends"). None is yet:
# openvino (2.0x faster embedding) lost one corpus_d answer (0.017), onnx-int8 (1.5x) 0.026
# Recall@5 and 0.039 accuracy on corpus; onnx matched torch but is slower than its bfloat16 here.
AUTO_ORDER: tuple[str, ...] = ()
# Backends whose vectors differ from torch's beyond tolerance (lowest cosine to float32 under
# 0.99): their vectors are another space, so the name stored with the index says so and the
# engine refuses to mix them with torch's (rag/engine.py check_embedding_model).
DISTINCT_SPACE = {"onnx-int8": "int8"}
EXPORT_VERSION = "1"  # bump when the export changes, so caches are rebuilt
_PACKAGES = {"onnx": "onnxruntime", "onnx-int8": "onnxruntime", "openvino": "openvino"}


def _installed(backend: str) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(p) is not None for p in _PACKAGES[backend].split("+"))


def _model_dir(model: str) -> Path | None:
    from rag.models import bundled_embedding_dir

    if model == BUNDLED:
        return bundled_embedding_dir()
    path = Path(model).expanduser()
    return path if path.is_dir() else None


def export_problem(model_dir: Path | None) -> str | None:
    """Why the model in ``model_dir`` cannot be exported (None when it can)."""
    if model_dir is None:
        return "the model is not a local folder (exporting needs its files; set RAG_EMBED_MODEL to a folder)"
    modules = _read_json(model_dir / "modules.json", [])
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        return f"its modules are {kinds or 'unknown'}; only Transformer + Pooling (+ Normalize) are exported"
    pooling = _read_json(model_dir / modules[1].get("path", "") / "config.json", {})
    if _pooling_mode(pooling) is None:
        return "its pooling is neither mean nor CLS"
    return None


def _read_json(path: Path, default):
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def _pooling_mode(cfg: dict) -> str | None:
    on = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True]
    if on == ["pooling_mode_mean_tokens"]:
        return "mean"
    if on == ["pooling_mode_cls_token"]:
        return "cls"
    return None


def resolve_backend(wanted: str, model: str, device: str = "auto") -> str:
    """The backend that runs: ``wanted`` itself, or for ``auto`` the first of AUTO_ORDER that is
    installed and can export the model (torch on a GPU, where it is the fast one)."""
    if wanted not in BACKENDS:
        raise ConfigError(f"RAG_EMBED_BACKEND={wanted!r} is not one of {', '.join(BACKENDS)}")
    if wanted != "auto":
        return wanted
    if pick_device(device) != "cpu":
        return "torch"
    try:
        exportable = export_problem(_model_dir(model)) is None
    except ModelError:
        exportable = False
    for backend in AUTO_ORDER:
        if exportable and _installed(backend):
            return backend
    return "torch"


def export_cache_dir(data_dir: Path, model_dir: Path, name: str, backend: str) -> Path:
    """Where the export of ``model_dir`` for ``backend`` is cached (a key of its files)."""
    import hashlib

    parts = [EXPORT_VERSION, backend]
    for f in sorted(model_dir.rglob("*")):
        if f.is_file() and f.suffix in (".json", ".safetensors", ".bin", ".txt"):
            parts.append(f"{f.relative_to(model_dir)}:{f.stat().st_size}")
    if backend == "onnx-int8":
        parts.append(f"reduce_range={_reduce_range()}")
    key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[-60:]
    return Path(data_dir) / "models" / f"embed-{slug}-{backend}-{key}"


def _reduce_range() -> bool:
    """7-bit int8 weights on CPUs without VNNI, where 8-bit products can saturate (ONNX Runtime's advice)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return True
    return " avx512_vnni" not in flags and " avx_vnni" not in flags


def _model_file(backend: str) -> str:
    return "openvino_model.xml" if backend == "openvino" else "model.onnx"


def export_model(model_dir: Path, dest: Path, backend: str) -> Path:
    """Export the sentence-transformers model in ``model_dir`` for ``backend`` into ``dest``
    (written to a temporary folder first, then renamed: a crash leaves no half export).
    Returns the model file."""
    import os
    import shutil
    import tempfile
    import warnings

    final = dest / _model_file(backend)
    if final.exists():
        return final
    if not _installed(backend):
        raise ModelError(
            f"RAG_EMBED_BACKEND={backend} needs the {_PACKAGES[backend]} package, which is not installed: "
            f"run `make setup` (or `pip install {_PACKAGES[backend]}`), or set RAG_EMBED_BACKEND=torch"
        )
    problem = export_problem(model_dir)
    if problem:
        raise ModelError(f"RAG_EMBED_BACKEND={backend} cannot export the embedding model: {problem}")
    import torch
    from transformers import AutoModel

    modules = _read_json(model_dir / "modules.json", [])
    mode = _pooling_mode(_read_json(model_dir / modules[1].get("path", "") / "config.json", {}))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".tmp", dir=dest.parent))
    try:
        # Eager attention exports as plain MatMul/Softmax, which ONNX Runtime and OpenVINO fuse.
        model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
        onnx_path = tmp / "model.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _pooled(model, mode),
                (torch.ones(2, 8, dtype=torch.long), torch.ones(2, 8, dtype=torch.long)),
                str(onnx_path),
                input_names=["input_ids", "attention_mask"],
                output_names=["sentence_embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "sentence_embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        if backend == "onnx-int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            fp32 = onnx_path.rename(tmp / "fp32.onnx")
            quantize_dynamic(
                fp32,
                onnx_path,
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=_reduce_range(),
                op_types_to_quantize=["MatMul"],
            )
            fp32.unlink()
        elif backend == "openvino":
            import openvino as ov

            ov.save_model(ov.convert_model(str(onnx_path)), str(tmp / _model_file(backend)), compress_to_fp16=False)
            onnx_path.unlink()
        try:
            os.replace(tmp, dest)
        except OSError:  # another process finished the same export first
            if not final.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("exported the embedding model for %s into %s", backend, dest)
    return final


def _pooled_module():
    import torch

    class Pooled(torch.nn.Module):
        """The transformer followed by the model's pooling and L2 normalisation."""

        def __init__(self, model, mode: str) -> None:
            super().__init__()
            self.model = model
            self.mode = mode

        def forward(self, input_ids, attention_mask):
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            if self.mode == "cls":
                vec = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(vec, dim=-1)

    return Pooled


def _pooled(model, mode: str):
    return _pooled_module()(model, mode)


class ExportedEmbedder:
    """The sentence-transformers model exported once (see :func:`export_model`) and run by
    ONNX Runtime (``onnx``, ``onnx-int8``) or OpenVINO (``openvino``), loaded on first use.

    Tokenisation, pooling and normalisation are the model's own, so ``onnx`` and ``openvino``
    vectors stay within cosine 0.99 of torch's and share its name (an index built with one
    is searched with another); ``onnx-int8`` is named apart (DISTINCT_SPACE).
    """

    def __init__(
        self,
        model: str = BUNDLED,
        backend: str = "onnx",
        data_dir: Path | str = Path("data"),
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 64,
    ) -> None:
        from rag.models import EMBED_NAME

        if backend not in _PACKAGES:
            raise ConfigError(f"RAG_EMBED_BACKEND={backend!r} is not one of {', '.join(_PACKAGES)}")
        self.model_ref = model
        self.backend = backend
        base = self._base_name = EMBED_NAME if model == BUNDLED else model
        self.name = f"{base} ({DISTINCT_SPACE[backend]})" if backend in DISTINCT_SPACE else base
        self.data_dir = Path(data_dir)
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = max(1, batch_size)
        self.device = "cpu"
        self._loaded = None
        self._query_run = None
        self._lock = threading.RLock()

    @property
    def _state(self):
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = self._load()
        return self._loaded

    def _load(self):
        from transformers import AutoTokenizer

        model_dir = _model_dir(self.model_ref)
        if model_dir is None:
            raise ModelError(
                f"RAG_EMBED_BACKEND={self.backend} needs RAG_EMBED_MODEL to be a local model folder "
                f"('{self.model_ref}' is not one), or set RAG_EMBED_BACKEND=torch"
            )
        cache = export_cache_dir(self.data_dir, model_dir, self._base_name, self.backend)
        path = export_model(model_dir, cache, self.backend)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        cfg = _read_json(model_dir / "sentence_bert_config.json", {})
        max_len = int(cfg.get("max_seq_length") or min(512, tokenizer.model_max_length))
        dim = int(_read_json(model_dir / "config.json", {}).get("hidden_size", 0))
        logger.info("embedding model %s on the CPU (%s, %s)", self.name, self.backend, path)
        return tokenizer, max_len, bool(cfg.get("do_lower_case")), dim, path, self._runner(path, threads=0)

    def _runner(self, path: Path, threads: int):
        """A function feeds -> vectors; ``threads`` 0 lets the runtime use every core."""
        if self.backend == "openvino":
            import openvino as ov

            config = {"INFERENCE_NUM_THREADS": threads} if threads else {}
            compiled = ov.Core().compile_model(str(path), "CPU", config)
            return lambda feeds: compiled(feeds)[0]
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        # Wait passively between operators, as torch does here (OMP_WAIT_POLICY=PASSIVE):
        # parser processes share the cores, and spinning made embedding ~2x slower.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return lambda feeds: session.run(None, feeds)[0]

    @property
    def dim(self) -> int:
        return self._state[3]

    @property
    def tokenizer(self):
        return self._state[0]

    @property
    def max_tokens(self) -> int:
        limit = self._state[1] - 2  # [CLS] and [SEP]
        if self.passage_prefix:
            limit -= len(self.tokenizer(self.passage_prefix, add_special_tokens=False)["input_ids"])
        return max(8, limit)

    def offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        enc = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, truncation=False)
        return [[(int(a), int(b)) for a, b in o] for o in enc["offset_mapping"]]

    def _encode(self, texts: list[str], run) -> np.ndarray:
        tokenizer, max_len, lower, dim, _, _ = self._state
        if lower:
            texts = [t.lower() for t in texts]
        ids = tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # length-sorted: little padding
        pad = tokenizer.pad_token_id or 0
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = len(ids[rows[0]])
            batch = np.full((len(rows), width), pad, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                batch[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            out[rows] = run({"input_ids": batch, "attention_mask": mask})
        return out

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode([self.passage_prefix + t for t in texts], self._state[5])

    def embed_query(self, text: str) -> np.ndarray:
        # One short text runs on one thread (see _one_thread): a second runtime, made on first use.
        if self._query_run is None:
            with self._lock:
                if self._query_run is None:
                    self._query_run = self._runner(self._state[4], threads=1)
        return self._encode([self.query_prefix + text], self._query_run)[0]
