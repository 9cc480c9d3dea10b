"""The engine ties store, index, embedder, retriever and generator together.

Both entry points (CLI and Streamlit app) build one ``RAG`` from a ``Settings`` and
call it; nothing here reads the environment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag import factory
from rag.answer import AnswerSelector, Choice
from rag.answer.tables import table_extent
from rag.citations import verify_answer
from rag.conversation import last_answer, read_follow_up
from rag.errors import IndexMismatchError, RAGError
from rag.generators.base import Message
from rag.prompts import (
    NO_ANSWER,
    SYSTEM_PROMPT,
    build_messages,
    plain_question,
    rewrite_messages,
    strip_passage_markup,
)
from rag.settings import BUNDLED, Settings
from rag.store import DEFAULT_COLLECTION
from rag.text import _STOP, _WORD, content_words
from rag.types import Answer, Citation, Claim, Hit

logger = logging.getLogger(__name__)


@dataclass
class Event:
    """One step of a streamed answer: ``sources`` (hits), ``token`` (text), ``done`` (Answer)."""

    kind: str
    value: Any


def _says_no_answer(raw: str) -> bool:
    """The model reported that the passages do not contain the answer."""
    text = " ".join(raw.lower().split())
    return text.startswith(NO_ANSWER.lower().rstrip(".")) or any(
        p in text[:120]
        for p in ("do not contain the answer", "does not contain the answer", "don't contain the answer")
    )


class RAG:
    def __init__(self, settings: Settings, embedder=None, generator=None, reranker=None) -> None:
        self.settings = settings
        self.store = factory.make_store(settings)
        self._embedder = embedder
        self._generator = generator
        self._reranker = reranker
        self._index = None
        self._selector: AnswerSelector | None = None
        self._lock = threading.RLock()
        self._filler: threading.Thread | None = None  # storing sentence vectors after an upload
        self._fill_wanted = False
        self._fill_lock = threading.Lock()
        self._writing = threading.Event()  # an ingestion of this engine is running
        self.system_prompt = SYSTEM_PROMPT

    # -- components (created on first use) -------------------------------------------
    @property
    def embedder(self):
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = factory.make_embedder(self.settings)
        return self._embedder

    @property
    def generator(self):
        if self._generator is None:
            with self._lock:
                if self._generator is None:
                    self._generator = factory.make_generator(self.settings, self.embedder)
        return self._generator

    @property
    def reranker(self):
        if self._reranker is None and self.settings.reranker_model:
            with self._lock:
                if self._reranker is None:
                    self._reranker = factory.make_reranker(self.settings)
        return self._reranker

    @property
    def index(self):
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self.check_embedding_model()
                    self._index = factory.make_index(self.settings, self.store, self.embedder.dim)
        return self._index

    @property
    def retriever(self):
        return factory.make_retriever(self.settings, self.store, self.index, self.embedder, self.reranker)

    def check_embedding_model(self) -> None:
        """Refuse to mix vectors of two embedding models in one data directory."""
        stored = self.store.get_meta("embed_model")
        name = self.embedder.name
        if stored is None or self.store.chunk_count() == 0:
            with self.store.transaction() as db:
                self.store.set_meta("embed_model", name, db)
                self.store.set_meta("embed_dim", str(self.embedder.dim), db)
                self.store.set_meta("embed_passage_prefix", self.embedder.passage_prefix, db)
                db.execute("DELETE FROM meta WHERE key='reindex_to'")
            return
        pending = self.store.get_meta("reindex_to")
        if pending is not None:
            raise IndexMismatchError(
                f"{self.settings.data_dir}: a re-index with '{pending}' was interrupted, so the documents hold "
                f"vectors of two models. Run `rag reindex --data-dir {self.settings.data_dir}` again to finish it."
            )
        if stored != name:
            raise IndexMismatchError(
                f"{self.settings.data_dir} was indexed with the embedding model '{stored}', but "
                f"'{name}' is configured. Vectors of two models cannot be mixed: run "
                f"`rag reindex --data-dir {self.settings.data_dir}` to re-embed every document with "
                f"'{name}', or set RAG_EMBED_MODEL back to '{stored}'."
            )
        stored_prefix = self.store.get_meta("embed_passage_prefix")
        prefix = self.embedder.passage_prefix
        if stored_prefix is not None and stored_prefix != prefix:
            raise IndexMismatchError(
                f"{self.settings.data_dir} was indexed with the passage prefix {stored_prefix!r}, but "
                f"{prefix!r} is configured (RAG_EMBED_PASSAGE_PREFIX). Run "
                f"`rag reindex --data-dir {self.settings.data_dir}` to re-embed every document with it, "
                f"or set RAG_EMBED_PASSAGE_PREFIX back to {stored_prefix!r}."
            )

    def warm_up(self, generator: bool = True) -> None:
        """Load the models (e.g. in a background thread at start-up)."""
        self.index.load()
        self.embedder.embed_query("warm up")
        if generator:
            warm = getattr(self.generator, "warm_up", None)
            if warm:
                warm()

    # -- ingestion ---------------------------------------------------------------------
    def ingestor(self):
        from ingest.pipeline import Ingestor

        if self.settings.ray_address:
            from ingest.distributed import RayIngestor

            return RayIngestor(self.settings, self.store, self.index, self.embedder)
        return Ingestor(self.settings, self.store, self.index, self.embedder)

    def ingest_paths(
        self,
        paths: Sequence[str | Path],
        collection: str = DEFAULT_COLLECTION,
        progress=None,
        on_wait=None,
        sentences: bool = True,
    ):
        from ingest.pipeline import IngestReport, discover

        sources, problems = discover(paths)
        report = IngestReport()
        if sources:
            with self._foreground():
                report = self.ingestor().ingest(sources, collection, progress, on_wait, sentences)
        report.results = problems + report.results
        return report

    def ingest_sources(
        self, sources, collection: str = DEFAULT_COLLECTION, progress=None, on_wait=None, sentences: bool = True
    ):
        with self._foreground():
            return self.ingestor().ingest(sources, collection, progress, on_wait, sentences)

    def fill_sentence_vectors_in_background(self) -> threading.Thread | None:
        """Store missing sentence vectors in a thread (the app does, after an upload, so the
        uploader need not wait for them). It yields to any ingestion this engine starts
        meanwhile, runs again if asked while running, and does nothing if another process
        holds the ingest lock or RAG_SENTENCE_VECTORS=off."""
        if self.settings.sentence_vectors != "ingest":
            return None
        with self._fill_lock:
            self._fill_wanted = True
            if self._filler is None:
                self._filler = threading.Thread(target=self._fill_loop, name="sentence-vectors", daemon=True)
                self._filler.start()
            return self._filler

    def _fill_loop(self) -> None:
        from ingest.pipeline import ingest_lock
        from rag.errors import LockedError

        try:
            while True:
                with self._fill_lock:
                    if not self._fill_wanted:
                        self._filler = None  # under the lock: a later call starts a new thread
                        return
                    self._fill_wanted = False
                try:
                    with ingest_lock(self.store.data_dir):
                        n = self.ingestor().fill_sentence_vectors(should_stop=self._writing.is_set)
                    logger.info("stored %d sentence vectors in the background", n)
                except LockedError:
                    pass  # another writer is busy; the next ingestion fills them
                except Exception:  # noqa: BLE001 - a cache: answers embed what is missing
                    logger.exception("storing sentence vectors failed; answers embed those sentences instead")
        finally:
            with self._fill_lock:
                self._filler = None
            self.store.close()  # this thread's connection

    @contextmanager
    def _foreground(self) -> Iterator[None]:
        """An ingestion started here: a background fill stops at its next batch."""
        self._writing.set()
        try:
            yield
        finally:
            self._writing.clear()

    def delete_document(self, doc_id: int) -> None:
        from ingest.pipeline import ingest_lock

        with ingest_lock(self.store.data_dir, on_wait=lambda m: None):
            change = self.store.delete_document(doc_id)
            self.index.apply(change)

    def delete_collection(self, name: str) -> None:
        from ingest.pipeline import ingest_lock

        with ingest_lock(self.store.data_dir, on_wait=lambda m: None):
            change = self.store.delete_collection(name)
            self.index.apply(change)

    def reindex(self, progress: Callable[[int, int, str], None] | None = None) -> int:
        """Re-chunk and re-embed every stored document with the configured model."""
        from ingest.chunking import chunk_pages
        from ingest.pipeline import ingest_lock
        from rag.types import Page

        emb = self.embedder
        with ingest_lock(self.store.data_dir, on_wait=lambda m: None):
            with self.store.transaction() as db:  # cleared when done: an interrupted re-index is detected
                self.store.set_meta("reindex_to", emb.name, db)
            docs = self.store.documents()
            for i, d in enumerate(docs, 1):
                rows = self.store.db.execute(
                    "SELECT number, text FROM pages WHERE doc_id=? ORDER BY number", (d.id,)
                ).fetchall()
                pages = [Page(n, t) for n, t in rows]
                max_tokens = min(self.settings.chunk_tokens, emb.max_tokens)
                chunks = chunk_pages(pages, emb, max_tokens, min(self.settings.chunk_overlap, max_tokens // 2))
                vecs = emb.embed_passages([c.text for c in chunks])
                self.store.put_document(
                    d.name, d.sha256, d.size, d.n_pages, pages, chunks, vecs, d.collection, d.stored_path, d.source_path
                )
                if progress:
                    progress(i, len(docs), d.name)
            with self.store.transaction() as db:
                self.store.set_meta("embed_model", emb.name, db)
                self.store.set_meta("embed_dim", str(emb.dim), db)
                self.store.set_meta("embed_passage_prefix", emb.passage_prefix, db)
                db.execute("DELETE FROM meta WHERE key='reindex_to'")
            if self._index is not None and hasattr(self._index, "close"):
                self._index.close()  # a Milvus Lite file is opened once per process
            self._index = factory.make_index(self.settings, self.store, emb.dim)
            self._index.load()
            if self.settings.sentence_vectors == "ingest":
                self.ingestor().fill_sentence_vectors()
        return len(docs)

    # -- search and answers ------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int | None = None,
        collections: Sequence[str] | None = None,
        doc_ids: Sequence[int] | None = None,
        mode: str | None = None,
    ) -> list[Hit]:
        return self.retriever.search(query, k, collections, doc_ids, mode)

    def retrieve(
        self,
        question: str,
        history: Sequence[Message] = (),
        k: int | None = None,
        collections: Sequence[str] | None = None,
        doc_ids: Sequence[int] | None = None,
    ) -> tuple[str, list[Hit]]:
        """The passages for ``question`` read in its conversation, and the question the
        answer is chosen for.

        A follow-up is rewritten by the model when the model writes the answers (a capable
        model); otherwise it borrows the previous turns' most specific words for retrieval
        only (rag/conversation.py), and the answer is chosen for the question as typed:
        measured on follow-ups and on new questions asked mid-conversation, choosing it
        for the borrowed words too answered fewer of both (docs/evaluation.md). Retrieval
        fuses the rewritten query, the question as typed and the passages the previous
        answer came from."""
        k = k or self.settings.top_k
        question = plain_question(question)
        if not history:
            return question, self.search(question, k, collections, doc_ids)
        turn = read_follow_up(question, history, self.store.idf)
        query = self._rewritten(question, history) if self.capable_model else turn.query
        asked = query if self.capable_model else question
        lists = [self.search(query, k, collections, doc_ids)]
        weights = [1.0]
        if query != question:
            lists.append(self.search(question, k, collections, doc_ids))
            weights.append(self.settings.typed_weight)
        if turn.previous_answer:
            lists.append(self.search(turn.previous_answer, k, collections, doc_ids))
            weights.append(self.settings.previous_answer_weight)
        from rag.retrieval import fuse_passages

        return asked, fuse_passages(lists, weights, k, self.settings.rrf_k)

    def _rewritten(self, question: str, history: Sequence[Message]) -> str:
        """The follow-up as a question that stands on its own, written by the model."""
        messages = rewrite_messages(question, history)
        try:
            text = "".join(self.generator.stream(messages, max_new_tokens=64)).strip()
        except RAGError as e:
            logger.warning("the follow-up could not be rewritten (%s); searching it as typed", e)
            return question
        text = text.splitlines()[0].strip().strip('"') if text else ""
        return text if 3 <= len(text) <= 400 else question

    @property
    def selector(self) -> AnswerSelector:
        """The fitted answer selector (rag/answer/): candidates, one score, one threshold."""
        if self._selector is None:
            from rag.answer.scorer import Scorer

            scorer = Scorer.load()
            if self.settings.answer_threshold >= 0:
                scorer = replace(scorer, threshold=self.settings.answer_threshold)
            self._selector = AnswerSelector(self.embed_sentences, self.idf, scorer, self.settings.quote_passages)
        return self._selector

    def ask_stream(
        self,
        question: str,
        history: Sequence[Message] = (),
        k: int | None = None,
        collections: Sequence[str] | None = None,
        doc_ids: Sequence[int] | None = None,
    ) -> Iterator[Event]:
        """Answer ``question``: yields the sources, then tokens, then the verified Answer."""
        t0 = time.perf_counter()
        query, hits = self.retrieve(question, history, k, collections, doc_ids)
        t_ret = time.perf_counter() - t0
        timings = {"retrieval": t_ret}
        yield Event("sources", hits)
        choice = self._choose(query, hits, timings, last_answer(history))
        if choice is None:
            # No candidate of the passages scores as an answer: abstain without generating.
            timings["total"] = time.perf_counter() - t0
            yield Event("token", NO_ANSWER)
            yield Event("done", Answer(question, NO_ANSWER, [], hits, True, [], query, timings, NO_ANSWER, "abstained"))
            return
        if self.quote_first:
            # The passage text that answers, quoted with its page, needs no generation at all.
            quoted = self._quoted(question, query, hits, choice, timings, "")
            timings["first_token"] = time.perf_counter() - t0
            yield Event("token", quoted.answer)
            quoted.timings["total"] = time.perf_counter() - t0
            yield Event("done", quoted)
            return
        gen = self.generator
        messages, kept = build_messages(query, hits, self.system_prompt, gen.count_tokens, self._passage_budget(gen))
        pieces: list[str] = []
        for piece in gen.stream(messages):
            if not pieces:
                timings["first_token"] = time.perf_counter() - t0
            pieces.append(piece)
            yield Event("token", piece)
        timings["generation"] = time.perf_counter() - t0 - t_ret
        raw = "".join(pieces).strip()
        # Quoted-first already found no sentence that qualifies before generating.
        answer = self.finish_answer(question, query, raw, kept, timings, choice)
        answer.timings["total"] = time.perf_counter() - t0
        yield Event("done", answer)

    def _passage_budget(self, gen) -> int:
        window = gen.context_window
        reserve = self.settings.llm_max_new_tokens + 200  # instructions, question, reply
        return max(128, min(self.settings.context_budget_tokens, window - reserve))

    def finish_answer(
        self, question: str, query: str, raw: str, hits: Sequence[Hit], timings: dict, choice: Choice | None = None
    ) -> Answer:
        """Verify the model's text against the passages and decide what the user sees.

        1. The model's claims that a passage supports are kept, cited to that passage;
           unsupported ones are flagged (or dropped with RAG_UNSUPPORTED=drop).
        2. If no supported claim speaks to the question, the selector's best candidate
           (``choice``, chosen before generating when given) is quoted instead.
        3. Otherwise (or when the model itself says the documents lack the answer, or
           nothing scores as an answer) the answer abstains.
        """
        hits = list(hits)
        if choice is None:
            choice = self._choose(query, hits, timings)
        if choice is None:
            return Answer(question, NO_ANSWER, [], hits, True, [], query, timings, raw, "abstained")
        if self.settings.llm_backend == "extractive":
            # Sentences copied from the passages always "verify": the selector decides.
            return self._quoted(question, query, hits, choice, timings, raw)
        said_no = not raw or _says_no_answer(raw)
        claims = []
        if not said_no:
            reply = strip_passage_markup(raw)  # "guide.pdf, page 7: <<<...": the prompt's framing, copied
            verified = verify_answer(reply, hits, self.embed_sentences, self.settings.unsupported, question=query)
            claims = verified.claims
            # A supported claim that shares no word with the question, nor does the sentence
            # that supports it ("A cup of brewed coffee is about 98% water" for "How long
            # should green tea steep?"), does not answer it.
            if any(c.supported and self._speaks_to(query, c, verified.citations) for c in claims):
                return Answer(
                    question, verified.answer, verified.citations, hits, False, claims, query, timings, raw, "generated"
                )
            return self._quoted(question, query, hits, choice, timings, raw)
        return Answer(question, NO_ANSWER, [], hits, True, claims, query, timings, raw, "abstained")

    def _choose(self, query: str, hits: Sequence[Hit], timings: dict, said: str = "") -> Choice | None:
        """The selector's best candidate of the passages (each table widened to the whole
        table on its page), or None when none reaches the threshold. A sentence the
        previous answer ``said`` is not offered again."""
        t = time.perf_counter()
        choice = self.selector.best(query, self._with_tables(hits), said) if hits else None
        timings["select"] = time.perf_counter() - t
        return choice

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors of ``texts``: the sentences of stored chunks are looked up (stored
        at ingestion), the rest (the question, a claim, a table row read under its header)
        embedded now. Looking up 40 to 80 sentences takes milliseconds; embedding them
        takes most of a second on a 2-core CPU."""
        if not texts:
            return self.embedder.embed_passages([])
        stored = self.store.sentence_vectors(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in stored]
        if missing:
            stored.update(zip(missing, self.embedder.embed_passages(missing)))
        return np.vstack([stored[t] for t in texts]).astype(np.float32, copy=False)

    def idf(self, question: str) -> dict[str, float]:
        """The corpus IDF of each word of ``question`` (from the full-text index)."""
        return self.store.idf(sorted({w for w in _WORD.findall(question.lower()) if w not in _STOP}))

    @staticmethod
    def _with_support(claim: Claim, citations: Sequence[Citation]) -> str:
        """A claim and the quotes of the passages it cites."""
        return " ".join([claim.text, *(c.quote for c in citations if c.n in claim.citations)])

    def _speaks_to(self, query: str, claim: Claim, citations: Sequence[Citation]) -> bool:
        return bool(content_words(query) & content_words(self._with_support(claim, citations)))

    @property
    def capable_model(self) -> bool:
        """Whether the configured model is one that can rewrite a question and write an
        answer (a served model, or a larger one than the bundled 135M)."""
        s = self.settings
        return s.llm_backend == "openai" or (s.llm_backend == "transformers" and s.llm_model != BUNDLED)

    @property
    def quote_first(self) -> bool:
        """Whether the cited sentence answers before the model's own words (see answer_policy)."""
        policy = self.settings.answer_policy
        if policy == "auto":
            return not self.capable_model
        return policy == "quoted"

    def _with_tables(self, hits: Sequence[Hit]) -> list[Hit]:
        """The top passages, each that cuts a table of figures widened to the whole table
        on its page (column names, rows, caption): chunking splits a table the way it
        splits prose, and a row means something only under its column names."""
        out = list(hits)
        for i, h in enumerate(out[: self.settings.quote_passages]):
            page = self.store.page_text(h.doc_id, h.page)
            if not page or page[h.start : h.end] != h.text:
                continue  # a passage that is not its page's text as stored: read as it is
            start, end = table_extent(page, h.start, h.end)
            if (start, end) != (h.start, h.end):
                out[i] = replace(h, text=page[start:end], start=start, end=end)
        return out

    def _quoted(
        self, question: str, query: str, hits: Sequence[Hit], choice: Choice, timings: dict, raw: str
    ) -> Answer:
        """The chosen candidate as the answer, cited to its page with its offsets."""
        c, h = choice.candidate, choice.hit
        text = choice.shown
        citation = Citation(
            n=1,  # the answer's only citation
            doc=h.doc,
            page=h.page,
            chunk_id=h.chunk_id,
            quote=c.text,
            quote_start=h.start + c.start,
            quote_end=h.start + c.end,
            doc_id=h.doc_id,
        )
        body = text[:-1] if text[-1:] in ".!?" else text
        answer = f"{body} [1]{text[-1] if text[-1:] in '.!?' else '.'}"
        claims = [Claim(text, [1], True)]
        out = Answer(question, answer, [citation], list(hits), False, claims, query, timings, raw, "quoted")
        out.confidence, out.unsure = choice.confidence, self.selector.unsure(choice)
        return out

    def ask(self, question: str, history: Sequence[Message] = (), **kw) -> Answer:
        answer = None
        for ev in self.ask_stream(question, history, **kw):
            if ev.kind == "done":
                answer = ev.value
        assert answer is not None
        return answer

    def status(self) -> dict:
        stats = self.store.stats()
        stats["index_files_bytes"] = sum(p.stat().st_size for p in self.store.data_dir.glob("index-v*.faiss"))
        return {
            "data_dir": str(self.settings.data_dir.resolve()),
            "embed_model_configured": self.embedder.name,
            "embed_model_index": self.store.get_meta("embed_model"),
            "vector_store": self.settings.vector_store,
            "documents_without_sentence_vectors": len(self.store.without_sentence_vectors()),
            **stats,
        }
