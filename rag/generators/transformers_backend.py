"""In-process generation with Hugging Face transformers (CPU or CUDA).

The bundled SmolLM2-135M-Instruct ships as a GGUF file; transformers de-quantises it
on load, which takes many seconds. The converted model is saved once under
``<data_dir>/models/`` and loaded from there on every later start.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from rag.errors import ModelError
from rag.generators.base import Message
from rag.settings import BUNDLED, Settings

logger = logging.getLogger(__name__)

# Length of the static KV cache (prompt + answer), capped so that a model with a long
# context window does not preallocate gigabytes; a longer request enlarges it once.
STATIC_CACHE_TOKENS = 4096


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover
        raise ModelError("PyTorch is not installed: run `make setup`") from e
    return torch


def converted_cache_dir(data_dir: Path, gguf: Path) -> Path:
    st = gguf.stat()
    key = hashlib.sha256(f"{gguf.name}:{st.st_size}".encode()).hexdigest()[:12]
    return Path(data_dir) / "models" / f"{gguf.stem}-{key}"


def load_gguf_cached(gguf: Path, data_dir: Path):
    """Load a GGUF causal LM, converting it once and caching the result."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = converted_cache_dir(data_dir, gguf)
    if (cache / "config.json").exists() and (cache / "tokenizer_config.json").exists():
        try:
            return AutoTokenizer.from_pretrained(cache), AutoModelForCausalLM.from_pretrained(cache)
        except Exception as e:  # noqa: BLE001 - a broken cache is rebuilt
            logger.warning("converted model cache %s unreadable (%s); converting again", cache, e)
    logger.info("converting %s once (cached in %s)", gguf.name, cache)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are already de-quantised to float32; drop the GGUF marker so the
    # model can be saved as plain safetensors.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        shutil.rmtree(cache, ignore_errors=True)
        os.replace(tmp, cache)
    except OSError as e:
        logger.warning("could not cache the converted model (%s)", e)
        shutil.rmtree(tmp, ignore_errors=True)
    return tok, model


class TransformersGenerator:
    """A causal LM with a chat template, loaded on first use and shared by all callers.

    Requests are served one at a time in arrival order (a fair FIFO lock), so several
    sessions can share one copy of the model.
    """

    def __init__(
        self,
        model: str = BUNDLED,
        data_dir: Path = Path("data"),
        device: str = "auto",
        quantization: str = "none",
        max_new_tokens: int = 160,
        temperature: float = 0.0,
        context_tokens: int = 0,
        kv_cache: str = "auto",
    ) -> None:
        from rag.models import LLM_NAME

        self.model_ref = model
        self.name = LLM_NAME if model == BUNDLED else model
        self.data_dir = Path(data_dir)
        self._device = device
        self.quantization = quantization
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self._context_tokens = context_tokens
        self.kv_cache = kv_cache
        self._tok = None
        self._model = None
        self._load_lock = threading.Lock()
        self._queue = FairLock()
        self._worker: GenerationThread | None = None
        self._warmed = False
        self.notes: list[str] = []

    @classmethod
    def from_settings(cls, s: Settings) -> TransformersGenerator:
        return cls(
            s.llm_model,
            s.data_dir,
            s.llm_device,
            s.llm_quantization,
            s.llm_max_new_tokens,
            s.llm_temperature,
            s.llm_context_tokens,
            s.llm_kv_cache,
        )

    # -- loading ---------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._model is not None

    def warm_up(self) -> None:
        _, model = self._ensure()
        if self.static_cache(model) and not self._warmed:
            # On a GPU the first generation with a static cache compiles the decode step
            # (tens of seconds): pay it here, at start-up, not in the first question.
            try:
                for _ in self.stream([{"role": "user", "content": "Say hello."}], max_new_tokens=8):
                    pass
            except ModelError as e:  # e.g. torch.compile finds no C compiler for Triton
                self.kv_cache = "dynamic"
                self.notes.append(f"the static KV cache failed ({e}); generating with the dynamic cache")
                logger.warning(self.notes[-1])
        self._warmed = True

    def static_cache(self, model=None) -> bool:
        """Whether generation preallocates its KV cache (and so can run a compiled decode step)."""
        if self.kv_cache == "auto":
            model = model if model is not None else self._ensure()[1]
            return self.device_of(model).startswith("cuda")
        return self.kv_cache == "static"

    def _ensure(self):
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._tok, self._model = self._load()
        return self._tok, self._model

    def _load(self):
        torch = _torch()
        # Import once here: concurrent first imports of transformers' lazy modules can fail.
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer  # noqa: F401

        device = self._device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            if self.model_ref == BUNDLED:
                from rag.models import bundled_gguf

                tok, model = load_gguf_cached(bundled_gguf(), self.data_dir)
                if device.startswith("cuda"):
                    model = model.to(device=device, dtype=torch.bfloat16)
            else:
                tok, model = self._load_hub(torch, device)
        except ModelError:
            raise
        except Exception as e:  # noqa: BLE001
            raise ModelError(f"cannot load generator model '{self.name}' ({e})") from None
        model.eval()
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        logger.info("generator %s on %s", self.name, self.device_of(model))
        return tok, model

    def _load_hub(self, torch, device: str):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs: dict = {}
        if device.startswith("cuda"):
            kwargs["dtype"] = torch.bfloat16
            kwargs["device_map"] = "auto"
        if self.quantization in ("4bit", "8bit"):
            try:
                import bitsandbytes  # noqa: F401
                from transformers import BitsAndBytesConfig
            except ImportError:
                self.notes.append(
                    f"{self.quantization} loading needs bitsandbytes (pip install bitsandbytes); loaded unquantised"
                )
                logger.warning(self.notes[-1])
            else:
                kwargs["quantization_config"] = BitsAndBytesConfig(
                    load_in_4bit=self.quantization == "4bit", load_in_8bit=self.quantization == "8bit"
                )
                kwargs.setdefault("device_map", "auto")
        tok = AutoTokenizer.from_pretrained(self.model_ref)
        model = AutoModelForCausalLM.from_pretrained(self.model_ref, **kwargs)
        if "device_map" not in kwargs:
            model = model.to(device)
        if not getattr(tok, "chat_template", None):
            raise ModelError(f"'{self.name}' has no chat template; configure an instruct/chat model")
        return tok, model

    @staticmethod
    def device_of(model) -> str:
        try:
            return str(next(model.parameters()).device)
        except StopIteration:  # pragma: no cover
            return "cpu"

    # -- Generator protocol --------------------------------------------------------------
    @property
    def context_window(self) -> int:
        if self._context_tokens:
            return self._context_tokens
        _, model = self._ensure()
        return int(getattr(model.config, "max_position_embeddings", 2048) or 2048)

    def count_tokens(self, text: str) -> int:
        tok, _ = self._ensure()
        return len(tok(text, add_special_tokens=False)["input_ids"])

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int:
        tok, _ = self._ensure()
        ids = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(ids)

    def describe(self) -> dict:
        info = {"backend": "transformers", "model": self.name, "loaded": self.loaded}
        if self.loaded:
            info["device"] = self.device_of(self._model)
            info["dtype"] = str(next(self._model.parameters()).dtype).replace("torch.", "")
            info["kv_cache"] = "static" if self.static_cache(self._model) else "dynamic"
        if self.notes:
            info["notes"] = list(self.notes)
        return info

    def stream(self, messages: Sequence[Message], max_new_tokens: int | None = None) -> Iterator[str]:
        torch = _torch()
        tok, model = self._ensure()
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        enc = tok.apply_chat_template(list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True)
        device = self.device_of(model)
        enc = {k: v.to(device) for k, v in enc.items()}
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True, timeout=600)
        eos = [tok.eos_token_id]
        for special in ("<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<end_of_turn>"):
            tid = tok.convert_tokens_to_ids(special)
            if isinstance(tid, int) and tid >= 0 and tid != tok.unk_token_id and tid not in eos:
                eos.append(tid)
        kwargs = dict(
            **enc,
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            streamer=streamer,
            eos_token_id=eos,
            pad_token_id=tok.pad_token_id,
            repetition_penalty=1.1,
        )
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature, top_p=0.9)
        else:
            kwargs.update(do_sample=False)
        if self.static_cache(model):
            # One cache length for every request, so the compiled decode step is reused.
            kwargs["cache_implementation"] = "static"
            if hasattr(model.generation_config, "max_cache_len"):  # transformers >= 5
                kwargs["max_cache_len"] = min(self.context_window, STATIC_CACHE_TOKENS)
        errors: list[BaseException] = []
        cancelled = threading.Event()

        class _Cancelled(StoppingCriteria):
            # The reader went away (a closed browser tab): stop generating and free the queue.
            def __call__(self, input_ids, scores, **kw) -> bool:
                return cancelled.is_set()

        kwargs["stopping_criteria"] = StoppingCriteriaList([_Cancelled()])

        def run() -> None:
            try:
                with torch.inference_mode():
                    model.generate(**kwargs)
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(e)
                streamer.on_finalized_text("", stream_end=True)

        with self._queue:
            if self._worker is None:
                self._worker = GenerationThread()
            done = self._worker.submit(run)
            try:
                for piece in streamer:
                    if piece:
                        yield piece
            finally:
                cancelled.set()
                done.wait()
        if errors:
            raise ModelError(f"generation failed ({errors[0]})")


class GenerationThread:
    """One long-lived thread runs every ``generate`` call of a generator.

    CUDA graphs that torch.compile records for the decode step belong to the thread that
    recorded them; a fresh thread per request would record them again.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="rag-generate", daemon=True).start()

    def _loop(self) -> None:
        while True:
            job, done = self._jobs.get()
            try:
                job()
            finally:
                done.set()

    def submit(self, job) -> threading.Event:
        done = threading.Event()
        self._jobs.put((job, done))
        return done


class FairLock:
    """A lock granted in arrival order (FIFO), so no session starves another."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: list[threading.Event] = []
        self._held = False

    def __enter__(self) -> FairLock:
        ev = threading.Event()
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return self
            self._waiters.append(ev)
        ev.wait()
        return self

    def __exit__(self, *exc) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.pop(0).set()  # ownership passes directly to the next waiter
            else:
                self._held = False

    @property
    def waiting(self) -> int:
        return len(self._waiters)
