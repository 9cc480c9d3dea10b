"""One shared in-process model, requests served one at a time in arrival order.

The transformers generator is driven with a stub tokenizer and model so the test is fast
and can watch exactly when each generation starts and ends.
"""

from __future__ import annotations

import threading
import time

import pytest
import torch

from rag.errors import ModelError
from rag.generators.transformers_backend import FairLock, TransformersGenerator

WORDS = 4


def wait_until(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.002)


class StubTokenizer:
    """Caller ``n``'s prompt is token ``1000 + n``; its reply tokens decode to ``"c<n>w<k> "``."""

    eos_token = "<eos>"
    eos_token_id = 0
    pad_token_id = 0
    unk_token_id = None

    def apply_chat_template(self, messages, **kw):
        caller = int(messages[-1]["content"])
        return {"input_ids": torch.tensor([[1000 + caller]]), "attention_mask": torch.tensor([[1]])}

    def convert_tokens_to_ids(self, token):
        return None

    def decode(self, ids, skip_special_tokens=True, **kw):
        return "".join(f"c{i // 100}w{i % 100} " for i in ids)


class StubModel:
    """Streams ``WORDS`` tokens with a pause between them and logs when each generation runs."""

    def __init__(self, delay: float = 0.01, fail_for: int | None = None) -> None:
        self.delay = delay
        self.fail_for = fail_for
        self.events: list[tuple[str, int]] = []
        self.running = 0
        self.max_running = 0
        self._p = torch.zeros(1)

    def parameters(self):
        yield self._p

    def generate(self, input_ids, streamer, max_new_tokens, **kw):
        caller = int(input_ids[0, 0]) - 1000
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self.events.append(("start", caller))
        try:
            streamer.put(input_ids)  # the prompt, skipped by the streamer
            if caller == self.fail_for:
                raise RuntimeError("out of memory")
            for k in range(1, max_new_tokens + 1):
                time.sleep(self.delay)
                streamer.put(torch.tensor([caller * 100 + k]))
            streamer.end()
        finally:
            self.events.append(("end", caller))
            self.running -= 1


def expected_reply(caller: int) -> str:
    return "".join(f"c{caller}w{k} " for k in range(1, WORDS + 1))


@pytest.fixture
def shared(tmp_path):
    # Loading a real model imports this first; with the stub model, the first import would race
    # between threads (transformers' lazy module is not thread-safe on first access).
    from transformers import TextIteratorStreamer  # noqa: F401

    gen = TransformersGenerator(data_dir=tmp_path, max_new_tokens=WORDS)
    gen._tok, gen._model = StubTokenizer(), StubModel()
    return gen


def ask(gen: TransformersGenerator, caller: int, replies: dict, errors: dict) -> None:
    try:
        replies[caller] = "".join(gen.stream([{"role": "user", "content": str(caller)}]))
    except ModelError as e:
        errors[caller] = str(e)


# -- the lock itself ---------------------------------------------------------------------------
def test_fair_lock_serves_waiters_in_arrival_order():
    lock, order = FairLock(), []

    def worker(i: int) -> None:
        with lock:
            order.append(i)

    lock.__enter__()
    threads = []
    for i in range(8):
        t = threading.Thread(target=worker, args=(i,))
        t.start()
        wait_until(lambda i=i: lock.waiting == i + 1)  # i+1 threads are now queued, in this order
        threads.append(t)
    lock.__exit__(None, None, None)
    for t in threads:
        t.join(10)
    assert order == list(range(8))
    assert lock.waiting == 0


def test_fair_lock_hands_over_to_a_waiter_before_the_releaser_can_take_it_again():
    lock, order = FairLock(), []

    def waiter() -> None:
        with lock:
            order.append("waiter")

    lock.__enter__()
    t = threading.Thread(target=waiter)
    t.start()
    wait_until(lambda: lock.waiting == 1)
    lock.__exit__(None, None, None)
    with lock:  # a greedy session asking again at once must queue behind the waiter
        order.append("releaser")
    t.join(10)
    assert order == ["waiter", "releaser"]


# -- the shared generator ----------------------------------------------------------------------
def test_concurrent_streams_on_one_model_run_one_at_a_time_in_arrival_order(shared):
    model, replies, errors = shared._model, {}, {}
    threads = [threading.Thread(target=ask, args=(shared, 0, replies, errors))]
    threads[0].start()
    wait_until(lambda: ("start", 0) in model.events)
    for caller in range(1, 6):
        t = threading.Thread(target=ask, args=(shared, caller, replies, errors))
        t.start()
        wait_until(lambda caller=caller: shared._queue.waiting == caller)
        threads.append(t)
    for t in threads:
        t.join(30)

    assert errors == {}
    assert model.max_running == 1  # never two generations on the model at once
    assert model.events == [(kind, c) for c in range(6) for kind in ("start", "end")]  # arrival order
    assert replies == {c: expected_reply(c) for c in range(6)}  # no caller got another's words


def test_many_simultaneous_askers_each_get_their_own_whole_reply(shared):
    replies, errors = {}, {}
    threads = [threading.Thread(target=ask, args=(shared, c, replies, errors)) for c in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == {}
    assert replies == {c: expected_reply(c) for c in range(16)}
    assert shared._model.max_running == 1


def test_a_failed_generation_does_not_block_the_queue(shared):
    shared._model.fail_for = 0
    replies, errors = {}, {}
    ask(shared, 0, replies, errors)
    assert "generation failed (out of memory)" in errors[0]
    ask(shared, 1, replies, errors)  # would hang if the failure had kept the lock
    assert replies == {1: expected_reply(1)}
