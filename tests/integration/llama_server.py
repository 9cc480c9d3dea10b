"""Start and stop a real OpenAI-compatible server (llama-cpp-python) on 127.0.0.1.

Used by the ``server`` tests and by ``bench/load.py``::

    with LlamaServer() as srv:          # serves the bundled SmolLM2 GGUF as "smollm2"
        OpenAIGenerator(srv.base_url, srv.alias)
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

logger = logging.getLogger(__name__)

ALIAS = "smollm2"


def llama_cpp_available() -> bool:
    """True when ``llama_cpp`` (``pip install 'llama-cpp-python[server]'``) is importable."""
    return importlib.util.find_spec("llama_cpp") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` as a child process, ready once ``/v1/models`` answers.

    Args:
        model: GGUF file; default the bundled SmolLM2-135M-Instruct.
        alias: Model name the server answers to.
        n_ctx: Context window of the server.
        port: TCP port; default a free one.
        threads: CPU threads for llama.cpp (default: all).
        extra: More command-line arguments for ``llama_cpp.server``.
    """

    def __init__(
        self,
        model: Path | None = None,
        alias: str = ALIAS,
        n_ctx: int = 2048,
        port: int | None = None,
        threads: int | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        if model is None:
            from rag.models import bundled_gguf

            model = bundled_gguf()
        self.model = Path(model)
        self.alias = alias
        self.n_ctx = n_ctx
        self.port = port or free_port()
        self.threads = threads
        self.extra = extra
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--model_alias",
            self.alias,
            # By default the server cuts a streaming reply short as soon as another request arrives.
            "--interrupt_requests",
            "False",
        ]
        if self.threads:
            cmd += ["--n_threads", str(self.threads)]
        return cmd + list(self.extra)

    def start(self, timeout: float = 120.0) -> LlamaServer:
        """Start the server and wait until it lists its model; raise with the log tail if it dies."""
        if not llama_cpp_available():
            raise RuntimeError("llama-cpp-python is not installed: run `make setup-server`")
        self.proc = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.models() is not None:
                logger.info("llama_cpp.server ready at %s", self.base_url)
                return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not start within {timeout:g} s:\n{self.log_tail()}")

    def models(self) -> list[str] | None:
        """Model ids the server lists, or None when it does not answer."""
        try:
            with urllib.request.urlopen(self.base_url + "/models", timeout=2) as r:
                return [m["id"] for m in json.load(r)["data"]]
        except (OSError, ValueError, KeyError):
            return None

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within 10 s); the port is then closed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(Path(self._log.name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)
