"""Any OpenAI-compatible chat server (vLLM, TGI, llama.cpp's server, Ollama) as the generator.

Only the standard library is used: ``POST {base}/chat/completions`` with ``"stream": true``
and the reply read as server-sent events. Connection errors and HTTP 429/5xx are retried
with exponential backoff *before* the first token; once text has been yielded nothing is
retried (the caller has already shown it). Every failure becomes a :class:`GeneratorError`
whose message says what is wrong and which ``RAG_OPENAI_*`` setting to look at.

The server does its own batching and queueing, so unlike the in-process transformers
backend this class holds no lock around a request: sessions stream concurrently.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from rag.errors import ConfigError, GeneratorError
from rag.generators.base import Message, approx_tokens
from rag.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_CONTEXT = 4096
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0
# Fields some servers put in a /v1/models entry that give the context length (vLLM, others).
_CONTEXT_KEYS = ("max_model_len", "context_length", "context_window", "n_ctx")


class _Retryable(Exception):
    """A failure worth another attempt (connection error, 429, 5xx) if nothing was yielded."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def iter_sse(lines: Iterable[bytes]) -> Iterator[str]:
    """The ``data`` payloads of a server-sent-event stream, one per event.

    Multi-line data fields are joined with newlines; comments (``:``) and other fields
    (``event:``, ``id:``) are ignored. A final event without a blank line still counts.
    """
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def delta_text(chunk: dict) -> str:
    """The text of one streamed chunk (``choices[0].delta.content``), or ``""``."""
    choices = chunk.get("choices") or []
    if not choices:
        return ""
    first = choices[0] or {}
    delta = first.get("delta") or first.get("message") or {}
    return delta.get("content") or ""


def error_detail(body: bytes | str) -> str:
    """The human part of an error body: OpenAI ``{"error": {"message"}}``, ``{"error": str}``,
    FastAPI ``{"detail"}`` or plain text."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        obj = json.loads(text)
    except ValueError:
        return text.strip()[:300]
    if isinstance(obj, dict):
        err = obj.get("error", obj.get("detail", obj.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err.get("msg") or json.dumps(err)
        if isinstance(err, list):  # FastAPI validation errors
            err = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in err)
        if err:
            return str(err)[:300]
    return text.strip()[:300]


class OpenAIGenerator:
    """Streams chat completions from an OpenAI-compatible server.

    Args:
        base_url: Server URL including the API prefix, e.g. ``http://127.0.0.1:8000/v1``.
        model: Model name the server knows; empty = the server's only model.
        api_key: Sent as ``Authorization: Bearer`` when set.
        timeout: Seconds to wait for the connection and between bytes of the reply.
        retries: Extra attempts for connection errors and HTTP 429/5xx before the first token.
        max_new_tokens: Default ``max_tokens`` of a reply.
        temperature: Sampling temperature (0 = greedy).
        context_tokens: Context window; 0 = the server's figure if it reports one, else 4096.
        backoff: First retry delay in seconds (doubled each attempt).
        sleep: Injected for tests.
    """

    def __init__(
        self,
        base_url: str,
        model: str = "",
        api_key: str = "",
        timeout: float = 60.0,
        retries: int = 2,
        max_new_tokens: int = 160,
        temperature: float = 0.0,
        context_tokens: int = 0,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"RAG_OPENAI_BASE_URL={base_url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
        self.base_url = base_url.strip().rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self.model = model.strip()
        self.api_key = api_key
        self.timeout = timeout
        self.retries = max(0, retries)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self._context_tokens = context_tokens
        self.backoff = backoff
        self._sleep = sleep
        self._server_context: int | None = None
        self._checked = False
        self._check_lock = threading.Lock()

    @classmethod
    def from_settings(cls, s: Settings) -> OpenAIGenerator:
        return cls(
            s.openai_base_url,
            s.openai_model,
            s.openai_api_key,
            s.openai_timeout,
            s.openai_retries,
            s.llm_max_new_tokens,
            s.llm_temperature,
            s.llm_context_tokens,
        )

    # -- Generator protocol --------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.model or "(server default)"

    @property
    def context_window(self) -> int:
        if self._context_tokens:
            return self._context_tokens
        self._ensure_model()
        return self._server_context or DEFAULT_CONTEXT

    def count_tokens(self, text: str) -> int:
        # The tokenizer lives on the server; a conservative estimate keeps prompts inside the window.
        return approx_tokens(text)

    def describe(self) -> dict:
        """Backend, URL and model, without touching the network (the Status page must not hang)."""
        info: dict[str, Any] = {
            "backend": "openai",
            "model": self.name,
            "base_url": self.base_url,
            "loaded": self._checked,
        }
        if self._context_tokens or self._server_context:
            info["context_window"] = self._context_tokens or self._server_context
        return info

    def warm_up(self) -> None:
        """Check that the server is up and knows the model (raises a clear error if not)."""
        self._ensure_model()

    def stream(self, messages: Sequence[Message], max_new_tokens: int | None = None) -> Iterator[str]:
        model = self._ensure_model()
        body = {
            "model": model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": max_new_tokens or self.max_new_tokens,
            "temperature": self.temperature,
            "stream": True,
        }
        yielded = False
        attempt = 0
        while True:
            try:
                conn, resp = self._open("POST", "/chat/completions", body)
                try:
                    for text in self._read_reply(resp):
                        yielded = True
                        yield text
                finally:
                    conn.close()
                return
            except _Retryable as e:
                if yielded:
                    raise GeneratorError(
                        f"the LLM server at {self.base_url} stopped in the middle of the answer ({e}); "
                        "the answer is incomplete — ask again"
                    ) from None
                if attempt >= self.retries:
                    raise GeneratorError(self._give_up(str(e), attempt + 1)) from None
                self._wait(attempt, e.retry_after, str(e))
                attempt += 1

    # -- model name ------------------------------------------------------------------------
    def _ensure_model(self) -> str:
        """Resolve (no model configured) or verify (model configured) the model once."""
        if self._checked:
            return self.model
        with self._check_lock:
            if not self._checked:
                self._check_model()
                self._checked = True
        return self.model

    def _check_model(self) -> None:
        listing = self.list_models()
        if listing is None:
            if not self.model:
                raise ConfigError(
                    f"RAG_OPENAI_MODEL is not set and the server at {self.base_url} does not list its models "
                    "(GET /models failed); set RAG_OPENAI_MODEL to the served model name"
                )
            return  # the server cannot tell us; the chat request will
        ids = [str(m.get("id")) for m in listing if m.get("id")]
        if not self.model:
            if len(ids) != 1:
                raise ConfigError(
                    f"RAG_OPENAI_MODEL is not set and the server at {self.base_url} serves "
                    + (f"{len(ids)} models ({', '.join(ids)})" if ids else "no models")
                    + "; set RAG_OPENAI_MODEL to one of them"
                )
            self.model = ids[0]
            logger.info("using the server's only model '%s'", self.model)
        elif ids and not any(_same_model(self.model, i) for i in ids):
            raise GeneratorError(self._no_model_message(ids))
        entry = next((m for m in listing if _same_model(self.model, str(m.get("id")))), None)
        if entry:
            self._server_context = _context_of(entry)

    def list_models(self) -> list[dict] | None:
        """The server's ``GET /models`` entries, or None when it does not offer that endpoint."""
        attempt = 0
        while True:
            try:
                conn, resp = self._open("GET", "/models", None, not_found_ok=True)
                try:
                    if resp.status != 200:
                        return None
                    payload = json.loads(resp.read() or b"{}")
                finally:
                    conn.close()
                break
            except _Retryable as e:
                if attempt >= self.retries:
                    raise GeneratorError(self._give_up(str(e), attempt + 1)) from None
                self._wait(attempt, e.retry_after, str(e))
                attempt += 1
            except (ValueError, OSError):
                return None
        data = payload.get("data", payload.get("models")) if isinstance(payload, dict) else payload
        if not isinstance(data, list):
            return None
        return [m if isinstance(m, dict) else {"id": str(m)} for m in data]

    def _no_model_message(self, ids: Sequence[str]) -> str:
        return (
            f"the server at {self.base_url} has no model '{self.model}'; available: "
            f"{', '.join(ids) or 'none'} — set RAG_OPENAI_MODEL to one of them"
        )

    # -- HTTP --------------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self.timeout)

    def _open(self, method: str, path: str, body: dict | None, not_found_ok: bool = False):
        """Send a request; return ``(conn, response)`` with status 200 (or 404 if ``not_found_ok``).

        Raises ``_Retryable`` for connection errors and 429/5xx, ``GeneratorError`` otherwise.
        """
        headers = {"Accept": "text/event-stream" if body and body.get("stream") else "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        conn = self._connection()
        try:
            conn.request(method, self._prefix + path, body=payload, headers=headers)
            resp = conn.getresponse()
        except TimeoutError:
            conn.close()
            raise GeneratorError(self._timeout_message()) from None
        except ConnectionRefusedError:
            conn.close()
            raise _Retryable(self._unreachable("connection refused")) from None
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
            raise _Retryable(self._unreachable(reason)) from None
        if resp.status == 200 or (not_found_ok and resp.status in (404, 405)):
            return conn, resp
        try:
            detail = error_detail(resp.read())
        except OSError:
            detail = ""
        finally:
            conn.close()
        raise self._http_error(resp.status, detail, path, resp.getheader("Retry-After"))

    def _http_error(self, status: int, detail: str, path: str, retry_after: str | None) -> Exception:
        where = f"the LLM server at {self.base_url}"
        if status in RETRY_STATUS:
            return _Retryable(f"HTTP {status}: {detail}" if detail else f"HTTP {status}", _seconds(retry_after))
        if status in (401, 403):
            hint = "check RAG_OPENAI_API_KEY" if self.api_key else "set RAG_OPENAI_API_KEY"
            return GeneratorError(f"{where} refused the request (HTTP {status}: {detail or 'unauthorized'}) — {hint}")
        low = detail.lower()
        if (
            status in (400, 404, 422)
            and "model" in low
            and any(
                w in low for w in ("not found", "does not exist", "unknown", "no model", "not exist", "invalid model")
            )
        ):
            try:
                ids = [str(m.get("id")) for m in (self.list_models() or []) if m.get("id")]
            except GeneratorError:
                ids = []
            return GeneratorError(self._no_model_message(ids))
        if status == 404:
            return GeneratorError(
                f"{where} has no endpoint {self._prefix}{path} (HTTP 404{': ' + detail if detail else ''}) — "
                "RAG_OPENAI_BASE_URL usually ends in /v1"
            )
        return GeneratorError(f"{where} rejected the request (HTTP {status}: {detail})")

    def _read_reply(self, resp) -> Iterator[str]:
        """Text pieces of a streamed (SSE) or, if the server ignored ``stream``, a plain JSON reply."""
        ctype = (resp.getheader("Content-Type") or "").lower()
        try:
            if "application/json" in ctype:
                text = delta_text(self._decode(resp.read()))
                if text:
                    yield text
                return
            # OpenAI-style servers end every complete reply with a chunk that has a finish_reason.
            finished = done = False
            for data in iter_sse(_lines(resp)):
                if data.strip() == "[DONE]":
                    done = True
                    break
                chunk = self._decode(data)
                finished = finished or any(c.get("finish_reason") for c in chunk.get("choices") or [] if c)
                text = delta_text(chunk)
                if text:
                    yield text
            if finished:
                return
            if done:
                raise _Retryable(
                    "the server ended the reply without a finish_reason; llama-cpp-python's server cuts a reply "
                    "short when another request arrives unless it is started with --interrupt_requests False"
                )
            raise _Retryable("connection closed before the reply was complete")
        except TimeoutError:
            raise GeneratorError(self._timeout_message()) from None
        except (OSError, http.client.HTTPException) as e:
            raise _Retryable(f"connection lost: {getattr(e, 'strerror', None) or e or type(e).__name__}") from None

    def _decode(self, data: bytes | str) -> dict:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise GeneratorError(
                f"the LLM server at {self.base_url} sent something that is not an OpenAI-style reply: "
                f"{str(data)[:200]!r}"
            ) from None
        if not isinstance(chunk, dict):
            raise GeneratorError(f"the LLM server at {self.base_url} sent an unexpected reply: {str(data)[:200]!r}")
        if chunk.get("error"):
            raise GeneratorError(f"the LLM server at {self.base_url} reported an error: {error_detail(data)}")
        return chunk

    # -- messages and waiting ---------------------------------------------------------------
    def _unreachable(self, reason: str) -> str:
        return f"cannot reach the LLM server at {self.base_url}: {reason} — is it running? set RAG_OPENAI_BASE_URL"

    def _timeout_message(self) -> str:
        return (
            f"the LLM server at {self.base_url} did not answer within {self.timeout:g} s — it may be overloaded "
            "or still loading the model; raise RAG_OPENAI_TIMEOUT or try again"
        )

    def _give_up(self, reason: str, attempts: int) -> str:
        if reason.startswith("cannot reach"):
            return reason if attempts == 1 else f"{reason} (tried {attempts} times)"
        return f"the LLM server at {self.base_url} failed ({reason}) after {attempts} attempt(s)"

    def _wait(self, attempt: int, retry_after: float | None, reason: str) -> None:
        delay = min(MAX_BACKOFF_S, retry_after if retry_after is not None else self.backoff * (2**attempt))
        logger.warning("LLM server: %s; retrying in %.1f s", reason, delay)
        self._sleep(delay)


def _lines(resp) -> Iterator[bytes]:
    while True:
        line = resp.readline()
        if not line:
            return
        yield line


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to exponential backoff


def _same_model(configured: str, served: str) -> bool:
    """Ollama lists ``llama3.2:latest`` but accepts ``llama3.2``."""
    return configured == served or (served.endswith(":latest") and configured == served[: -len(":latest")])


def _context_of(entry: dict) -> int | None:
    for source in (entry, entry.get("meta") or {}):
        for key in _CONTEXT_KEYS:
            value = source.get(key) if isinstance(source, dict) else None
            if isinstance(value, int) and value > 0:
                return value
    return None
