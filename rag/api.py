"""The HTTP API (`rag api`): OpenAI-compatible chat completions with citations, search,
models and health, for other tools to call.

- ``POST /v1/chat/completions``: OpenAI's request (``messages``, ``stream``); the last user
  message is the question and the turns before it its conversation. The reply is a
  ``chat.completion`` whose text carries the ``[n]`` markers, with the citations (file,
  page, quote, offsets) in the extra field ``citations`` (and ``rag``: sources, abstained,
  mode). With ``stream: true`` it is server-sent events of ``chat.completion.chunk``; the
  last chunk before ``[DONE]`` carries ``citations`` and ``rag``, whose ``answer`` is the
  verified text (a generated answer's streamed draft may differ from it).
- ``POST /v1/search``: ``{"query", "k", "collections"}`` -> the hybrid hits, as ``rag search
  --json`` prints them.
- ``GET /v1/models``, ``GET /healthz``.

Team mode: with ``RAG_API_KEYS_FILE`` set (lines ``KEY EMAIL``), every request needs
``Authorization: Bearer KEY``; the key's user reads exactly the collections the UI lets
them read (rag/access.py), the filter applied inside retrieval. Without it the API is
single-user and, like ``rag serve``, listens on 127.0.0.1 by default.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import Request

from rag import access
from rag.access import Principal
from rag.errors import ConfigError, RAGError
from rag.settings import Settings

logger = logging.getLogger(__name__)

MODEL_ID = "rag"


def read_keys(path: Path) -> dict[str, str]:
    """API keys -> user emails from a file of ``KEY EMAIL`` lines (``#`` starts a comment)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"RAG_API_KEYS_FILE: cannot read {path} ({e.strerror})") from None
    keys: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or "@" not in parts[1] or len(parts[0]) < 16:
            raise ConfigError(f"{path}, line {n}: expected 'KEY EMAIL' with a key of at least 16 characters")
        keys[parts[0]] = parts[1].lower()
    if not keys:
        raise ConfigError(f"{path}: no API keys")
    return keys


def _error(status: int, message: str, kind: str = "invalid_request_error"):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status)


def _conversation(messages: Any) -> tuple[str, list[dict[str, str]]]:
    """(question, history) from OpenAI ``messages``: the last user turn and the user and
    assistant turns before it (system turns are the caller's instructions to its own
    model; the answer follows this app's)."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    turns = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "developer", "tool"):
            raise ValueError(f"messages[{i}]: 'role' must be system, user or assistant")
        content = m.get("content")
        if isinstance(content, list):  # [{"type": "text", "text": "..."}]
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise ValueError(f"messages[{i}]: 'content' must be a string")
        if m["role"] in ("user", "assistant"):
            turns.append({"role": m["role"], "content": content})
    if not turns or turns[-1]["role"] != "user" or not turns[-1]["content"].strip():
        raise ValueError("the last message must be a non-empty user message (the question)")
    return turns[-1]["content"].strip(), turns[:-1]


def _extra(answer) -> dict[str, Any]:
    j = answer.to_json()
    return {
        "citations": j["citations"],
        "rag": {k: j[k] for k in ("answer", "abstained", "mode", "sources", "claims", "timings") if k in j}
        | ({"standalone_question": j["standalone_question"]} if "standalone_question" in j else {}),
    }


def create_app(settings: Settings, engine=None):
    """The ASGI app over one engine (made from ``settings`` when not given)."""
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse
    from starlette.concurrency import run_in_threadpool

    from rag.engine import RAG

    rag = engine or RAG(settings)
    keys = read_keys(Path(settings.api_keys_file)) if settings.api_keys_file else None
    app = FastAPI(title="rag", description="Ask your documents, with citations to file and page.")

    def principal(request: Request) -> tuple[Principal | None, Any]:
        """The caller's principal (None in single-user mode), or an error response."""
        if keys is None:
            return None, None
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        email = next((e for k, e in keys.items() if secrets.compare_digest(k, token)), None) if token else None
        if email is None:
            return None, _error(401, "a valid API key is required (Authorization: Bearer KEY)", "authentication_error")
        return access.principal_for(email, settings.admins), None

    def scope(body: dict, who: Principal | None) -> list[str] | None:
        chosen = body.get("collections")
        if chosen is not None and not (isinstance(chosen, list) and all(isinstance(c, str) for c in chosen)):
            raise ValueError("'collections' must be a list of collection names")
        return access.restrict(chosen, access.readable_collections(rag.store, who))

    async def body_of(request: Request) -> dict:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        return body

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "documents": len(rag.store.documents())}

    @app.get("/v1/models")
    def models(request: Request):
        _, denied = principal(request)
        if denied:
            return denied
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "rag"}]}

    @app.post("/v1/search")
    async def search(request: Request):
        who, denied = principal(request)
        if denied:
            return denied
        try:
            body = await body_of(request)
            query = body.get("query")
            if not isinstance(query, str) or not query.strip():
                raise ValueError("'query' must be a non-empty string")
            k = body.get("k", settings.top_k)
            if not isinstance(k, int) or not 1 <= k <= 100:
                raise ValueError("'k' must be an integer from 1 to 100")
            collections = scope(body, who)
        except ValueError as e:
            return _error(400, str(e))
        hits = await run_in_threadpool(rag.search, query, k, collections)
        return {"query": query, "hits": [h.to_json() for h in hits]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        who, denied = principal(request)
        if denied:
            return denied
        try:
            body = await body_of(request)
            question, history = _conversation(body.get("messages"))
            collections = scope(body, who)
        except ValueError as e:
            return _error(400, str(e))
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        head = {"id": cid, "created": created, "model": body.get("model") or MODEL_ID}
        events = rag.ask_stream(question, history, collections=collections)
        if not body.get("stream"):
            answer = await run_in_threadpool(lambda: next(ev.value for ev in events if ev.kind == "done"))
            message = {"role": "assistant", "content": answer.answer}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return {**head, "object": "chat.completion", "choices": [choice], **_extra(answer)}

        def chunks() -> Iterator[str]:
            def chunk(delta: dict, finish: str | None = None, **extra) -> str:
                c = {
                    **head,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                return f"data: {json.dumps({**c, **extra})}\n\n"

            yield chunk({"role": "assistant", "content": ""})
            try:
                for ev in events:
                    if ev.kind == "token":
                        yield chunk({"content": ev.value})
                    elif ev.kind == "done":
                        yield chunk({}, "stop", **_extra(ev.value))
            except RAGError as e:  # the model failed mid-answer: say so in the stream
                logger.warning("chat completion failed: %s", e)
                yield f"data: {json.dumps({'error': {'message': str(e), 'type': 'server_error'}})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    return app


def serve(settings: Settings, host: str, port: int) -> int:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
