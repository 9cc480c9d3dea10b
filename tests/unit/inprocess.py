"""Fixture: parse files in the test process (fast) instead of in isolated worker processes.

Worker isolation (time and memory limits, crashes) is tested with hostile files elsewhere;
tests of the store, engine and CLI only need the parsed pages. Import the fixture into a
test module to apply it there: ``from tests.unit.inprocess import parse_in_process  # noqa: F401``.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def parse_in_process(monkeypatch):
    import ingest.pipeline as pipeline

    real = pipeline.extract_all

    def in_process(jobs, limits, workers=0, **kwargs):
        return real(jobs, limits, workers=0, **kwargs)

    monkeypatch.setattr(pipeline, "extract_all", in_process)
