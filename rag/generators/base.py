"""The ``Generator`` protocol: chat messages in, a stream of text out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, TypedDict


class Message(TypedDict):
    role: str  # system | user | assistant
    content: str


class Generator(Protocol):
    """Streams the answer to a chat conversation."""

    name: str

    def stream(self, messages: Sequence[Message], max_new_tokens: int | None = None) -> Iterator[str]:
        """Yield pieces of the reply as they are produced."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in the model's context (an estimate is acceptable)."""
        ...

    @property
    def context_window(self) -> int:
        """Tokens the model can attend to (prompt plus reply)."""
        ...

    def describe(self) -> dict:
        """Model name, backend, device — for the Status page."""
        ...


def approx_tokens(text: str) -> int:
    """A conservative token estimate for backends without a local tokenizer."""
    return max(1, int(len(text) / 3.2) + 1)
