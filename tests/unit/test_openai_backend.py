"""The ``openai`` generator against a tiny scripted HTTP server running in a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag.errors import ConfigError, GeneratorError
from rag.generators.openai_backend import OpenAIGenerator, iter_sse

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]


@dataclass
class Reply:
    """What the fake server answers to one request."""

    status: int = 200
    json_body: object | None = None
    sse: list[str] | None = None  # data payloads, sent as chunked server-sent events
    drop_after: int | None = None  # close the socket after this many events (no final chunk)
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def chunk(text: str) -> str:
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


def sse_reply(*pieces: str) -> Reply:
    role = json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
    stop = json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return Reply(sse=[role, *[chunk(p) for p in pieces], stop, "[DONE]"])


class FakeServer:
    """Routes ``(method, path)`` to a queue of replies; the last reply repeats."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                owner.requests.append(
                    {"method": method, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                queue = owner.routes.get((method, self.path))
                reply = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else Reply(404, {"detail": "Not Found"})
                time.sleep(reply.delay)
                if reply.sse is None:
                    data = json.dumps(reply.json_body).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, payload in enumerate(reply.sse):
                    if reply.drop_after is not None and i >= reply.drop_after:
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    event = f"data: {payload}\n\n".encode()
                    self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass  # a client that timed out and hung up is expected here

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def route(self, method: str, path: str, *replies: Reply) -> None:
        self.routes[(method, path)] = list(replies)

    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"] == "/v1/chat/completions"]


@pytest.fixture
def server():
    srv = FakeServer()
    srv.thread.start()
    srv.route("GET", "/v1/models", Reply(json_body={"object": "list", "data": [{"id": "smol"}]}))
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def sleeps():
    return []


def make(server, sleeps, **kw) -> OpenAIGenerator:
    kw.setdefault("model", "smol")
    return OpenAIGenerator(server.url if server else kw.pop("url"), sleep=sleeps.append, **kw)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- server-sent events ------------------------------------------------------------------------
def test_iter_sse_handles_comments_multiline_data_and_a_missing_final_blank_line():
    lines = [b": keep-alive\n", b"event: message\n", b'data: {"a":\n', b"data: 1}\n", b"\n", b"data:[DONE]"]
    assert list(iter_sse(lines)) == ['{"a":\n1}', "[DONE]"]


def test_stream_yields_the_deltas_in_order_and_sends_an_openai_request(server, sleeps):
    server.route("POST", "/v1/chat/completions", sse_reply("The answer", " is", " 42 [1]."))
    gen = make(server, sleeps, api_key="sekret", max_new_tokens=33, temperature=0.0)

    assert "".join(gen.stream(MESSAGES)) == "The answer is 42 [1]."

    (req,) = server.chat_requests()
    assert req["body"]["model"] == "smol"
    assert req["body"]["stream"] is True
    assert req["body"]["max_tokens"] == 33
    assert req["body"]["messages"] == MESSAGES
    assert req["headers"]["Authorization"] == "Bearer sekret"


def test_max_new_tokens_argument_overrides_the_default(server, sleeps):
    server.route("POST", "/v1/chat/completions", sse_reply("ok"))
    list(make(server, sleeps, max_new_tokens=100).stream(MESSAGES, max_new_tokens=7))
    assert server.chat_requests()[0]["body"]["max_tokens"] == 7


def test_a_server_that_ignores_stream_and_returns_json_still_answers(server, sleeps):
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Plain reply."}}]}
    server.route("POST", "/v1/chat/completions", Reply(json_body=body))
    assert "".join(make(server, sleeps).stream(MESSAGES)) == "Plain reply."


def test_an_error_event_inside_the_stream_is_reported(server, sleeps):
    bad = json.dumps({"error": {"message": "prompt is longer than the context"}})
    server.route("POST", "/v1/chat/completions", Reply(sse=[bad]))
    with pytest.raises(GeneratorError, match="prompt is longer than the context"):
        list(make(server, sleeps).stream(MESSAGES))


# -- model name ----------------------------------------------------------------------------------
def test_without_a_model_name_the_servers_only_model_is_used(server, sleeps):
    server.route("POST", "/v1/chat/completions", sse_reply("hi"))
    gen = make(server, sleeps, model="")
    list(gen.stream(MESSAGES))
    assert server.chat_requests()[0]["body"]["model"] == "smol"
    assert gen.describe()["model"] == "smol"


def test_without_a_model_name_several_served_models_is_a_config_error_listing_them(server, sleeps):
    server.route("GET", "/v1/models", Reply(json_body={"data": [{"id": "llama-8b"}, {"id": "llama-70b"}]}))
    with pytest.raises(ConfigError, match=r"llama-8b, llama-70b.*RAG_OPENAI_MODEL"):
        list(make(server, sleeps, model="").stream(MESSAGES))
    assert server.chat_requests() == []


def test_a_wrong_model_name_names_the_available_models(server, sleeps):
    server.route("GET", "/v1/models", Reply(json_body={"data": [{"id": "a"}, {"id": "b"}]}))
    with pytest.raises(GeneratorError) as err:
        list(make(server, sleeps, model="x").stream(MESSAGES))
    assert str(err.value).startswith(f"the server at {server.url} has no model 'x'; available: a, b")
    assert server.chat_requests() == []


def test_a_404_about_the_model_from_a_server_without_a_model_list_is_explained(server, sleeps):
    server.route("GET", "/v1/models", Reply(404, {"detail": "Not Found"}))
    err_body = {"error": {"message": "The model `x` does not exist.", "type": "NotFoundError", "code": 404}}
    server.route("POST", "/v1/chat/completions", Reply(404, err_body))
    with pytest.raises(GeneratorError, match=r"has no model 'x'"):
        list(make(server, sleeps, model="x").stream(MESSAGES))
    assert sleeps == []  # not retried


def test_ollama_style_latest_tag_matches_the_bare_name(server, sleeps):
    server.route("GET", "/v1/models", Reply(json_body={"data": [{"id": "llama3.2:latest"}]}))
    server.route("POST", "/v1/chat/completions", sse_reply("ok"))
    assert "".join(make(server, sleeps, model="llama3.2").stream(MESSAGES)) == "ok"


def test_a_base_url_without_the_api_prefix_gets_a_hint(server, sleeps):
    gen = OpenAIGenerator(server.url.removesuffix("/v1"), model="smol", sleep=sleeps.append)
    with pytest.raises(GeneratorError, match=r"no endpoint /chat/completions.*ends in /v1"):
        list(gen.stream(MESSAGES))


# -- failures and retries ----------------------------------------------------------------------
def test_server_down_gives_a_clear_message_after_backing_off():
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{closed_port()}/v1"
    gen = OpenAIGenerator(url, model="smol", retries=2, backoff=0.5, sleep=sleeps.append)
    with pytest.raises(GeneratorError) as err:
        list(gen.stream(MESSAGES))
    msg = str(err.value)
    assert msg.startswith(f"cannot reach the LLM server at {url}: connection refused — is it running?")
    assert "RAG_OPENAI_BASE_URL" in msg
    assert sleeps == [0.5, 1.0]  # exponential backoff, then give up


def test_a_500_then_success_is_retried_transparently(server, sleeps):
    server.route(
        "POST", "/v1/chat/completions", Reply(500, {"error": {"message": "CUDA out of memory"}}), sse_reply("fine")
    )
    assert "".join(make(server, sleeps, backoff=0.25).stream(MESSAGES)) == "fine"
    assert len(server.chat_requests()) == 2
    assert sleeps == [0.25]


def test_429_honours_retry_after(server, sleeps):
    server.route(
        "POST", "/v1/chat/completions", Reply(429, {"error": "busy"}, headers={"Retry-After": "3"}), sse_reply("ok")
    )
    assert "".join(make(server, sleeps).stream(MESSAGES)) == "ok"
    assert sleeps == [3.0]


def test_persistent_503_gives_up_after_the_configured_retries(server, sleeps):
    server.route("POST", "/v1/chat/completions", Reply(503, {"error": {"message": "loading model"}}))
    with pytest.raises(GeneratorError, match=r"HTTP 503: loading model\) after 4 attempt"):
        list(make(server, sleeps, retries=3, backoff=1).stream(MESSAGES))
    assert len(server.chat_requests()) == 4
    assert sleeps == [1, 2, 4]


def test_nothing_is_retried_once_tokens_were_yielded(server, sleeps):
    broken = sse_reply("The answer", " is")
    broken.drop_after = 2  # role chunk + one token, then the connection dies
    server.route("POST", "/v1/chat/completions", broken, sse_reply("should never be fetched"))
    got: list[str] = []
    with pytest.raises(GeneratorError, match="stopped in the middle of the answer"):
        for piece in make(server, sleeps).stream(MESSAGES):
            got.append(piece)
    assert got == ["The answer"]
    assert len(server.chat_requests()) == 1
    assert sleeps == []


def test_a_reply_cut_short_by_the_server_is_reported_not_shown_as_complete(server, sleeps):
    # llama-cpp-python's server sends [DONE] without a finish_reason when another request interrupts it.
    cut = Reply(sse=[chunk("The answer"), chunk(" is"), "[DONE]"])
    server.route("POST", "/v1/chat/completions", cut)
    got: list[str] = []
    with pytest.raises(GeneratorError, match=r"stopped in the middle.*--interrupt_requests False"):
        for piece in make(server, sleeps).stream(MESSAGES):
            got.append(piece)
    assert got == ["The answer", " is"]


def test_a_connection_lost_before_the_first_token_is_retried(server, sleeps):
    broken = sse_reply("lost")
    broken.drop_after = 1  # only the role chunk, no text yet
    server.route("POST", "/v1/chat/completions", broken, sse_reply("second try"))
    assert "".join(make(server, sleeps).stream(MESSAGES)) == "second try"
    assert len(server.chat_requests()) == 2


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_point_at_the_api_key_and_are_not_retried(server, sleeps, status):
    server.route("POST", "/v1/chat/completions", Reply(status, {"error": {"message": "invalid api key"}}))
    with pytest.raises(GeneratorError, match=rf"HTTP {status}: invalid api key\) — set RAG_OPENAI_API_KEY"):
        list(make(server, sleeps).stream(MESSAGES))
    assert len(server.chat_requests()) == 1


def test_a_slow_server_times_out_with_a_clear_message(server, sleeps):
    slow = sse_reply("late")
    slow.delay = 1.5
    server.route("POST", "/v1/chat/completions", slow)
    with pytest.raises(GeneratorError, match=r"did not answer within 0.3 s.*RAG_OPENAI_TIMEOUT"):
        list(make(server, sleeps, timeout=0.3).stream(MESSAGES))


# -- settings and metadata ---------------------------------------------------------------------
def test_context_window_comes_from_the_server_or_defaults_to_4096(server, sleeps):
    assert make(server, sleeps).context_window == 4096
    server.route("GET", "/v1/models", Reply(json_body={"data": [{"id": "smol", "max_model_len": 32768}]}))
    assert make(server, sleeps).context_window == 32768
    assert make(server, sleeps, context_tokens=2048).context_window == 2048


def test_make_generator_builds_it_from_settings(server, settings):
    from rag.generators import make_generator

    s = settings.replace(
        llm_backend="openai",
        openai_base_url=server.url,
        openai_model="smol",
        openai_api_key="k",
        openai_timeout=5.0,
        openai_retries=1,
        llm_max_new_tokens=12,
    )
    gen = make_generator(s)
    assert isinstance(gen, OpenAIGenerator)
    assert (gen.base_url, gen.model, gen.api_key, gen.timeout, gen.retries, gen.max_new_tokens) == (
        server.url,
        "smol",
        "k",
        5.0,
        1,
        12,
    )
    assert gen.describe() == {"backend": "openai", "model": "smol", "base_url": server.url, "loaded": False}


def test_a_malformed_base_url_is_a_config_error():
    with pytest.raises(ConfigError, match="RAG_OPENAI_BASE_URL"):
        OpenAIGenerator("localhost:8000", model="x")
