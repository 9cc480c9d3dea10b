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

from ingest.chunking import split_sentences
from rag.citations import content_words, doc_words, missing_specifics, verify_answer
from rag.errors import IndexMismatchError
from rag.generators.base import Message
from rag.prompts import NO_ANSWER, SYSTEM_PROMPT, build_messages, standalone_question, strip_passage_markup
from rag.quotes import (
    best_quote,
    code_terms,
    focus_term,
    names_another,
    naming_numbers,
    narrow_answer,
    plain_text,
    question_coverage,
    rank_quotes,
    table_extent,
    uncounted,
    unnamed_measure,
)
from rag.settings import BUNDLED, Settings
from rag.store import DEFAULT_COLLECTION, Store
from rag.types import Answer, Citation, Claim, Hit

logger = logging.getLogger(__name__)

# A name of the question found in fewer than this share of a document's chunks is what the
# question is about ("HotpotQA" in a paper that mentions it on two pages), not the document's
# own vocabulary ("Framework Core" throughout the Cybersecurity Framework).
RARE_NAME_SHARE = 0.1
# A quote whose page holds every word of the question may repeat this much less of them
# than RAG_MIN_QUOTE_COVERAGE asks (see docs/evaluation.md: 0.2 to 0.3 answer the same).
PAGE_COVERED_MARGIN = 0.2


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


def _names_every_word(question: str, hits: Sequence[Hit]) -> bool:
    """One sentence of the passages holds every content word of ``question``.

    A short question ("What is a sol?") is far from any whole passage in embedding
    space, yet a sentence that names exactly what it asks about makes the passages
    relevant ("A day on Mars is called a sol, ...").
    """
    words = content_words(question)
    return bool(words) and any(words <= content_words(h.text[s:e]) for h in hits for s, e in split_sentences(h.text))


class RAG:
    def __init__(self, settings: Settings, embedder=None, generator=None, reranker=None) -> None:
        self.settings = settings
        self.store = Store(settings.data_dir)
        self._embedder = embedder
        self._generator = generator
        self._reranker = reranker
        self._index = None
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
                    from rag.embedders import SentenceTransformerEmbedder

                    self._embedder = SentenceTransformerEmbedder.from_settings(self.settings)
        return self._embedder

    @property
    def generator(self):
        if self._generator is None:
            with self._lock:
                if self._generator is None:
                    from rag.generators import make_generator

                    self._generator = make_generator(self.settings, self.embedder)
        return self._generator

    @property
    def reranker(self):
        if self._reranker is None and self.settings.reranker_model:
            with self._lock:
                if self._reranker is None:
                    from rag.rerank import CrossEncoderReranker

                    self._reranker = CrossEncoderReranker(self.settings.reranker_model)
        return self._reranker

    @property
    def index(self):
        if self._index is None:
            with self._lock:
                if self._index is None:
                    from rag.index import VectorIndex

                    self.check_embedding_model()
                    self._index = VectorIndex(
                        self.store, self.embedder.dim, self.settings.index_kind, self.settings.ann_threshold
                    )
        return self._index

    @property
    def retriever(self):
        from rag.retrieval import Retriever

        return Retriever(self.settings, self.store, self.index, self.embedder, self.reranker)

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
        from rag.index import VectorIndex
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
                    d.name, d.sha256, d.size, d.n_pages, pages, chunks, vecs, d.collection, d.stored_path
                )
                if progress:
                    progress(i, len(docs), d.name)
            with self.store.transaction() as db:
                self.store.set_meta("embed_model", emb.name, db)
                self.store.set_meta("embed_dim", str(emb.dim), db)
                self.store.set_meta("embed_passage_prefix", emb.passage_prefix, db)
                db.execute("DELETE FROM meta WHERE key='reindex_to'")
            self._index = VectorIndex(self.store, emb.dim, self.settings.index_kind, self.settings.ann_threshold)
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

    def is_relevant(self, hits: Sequence[Hit], question: str = "") -> bool:
        """Whether the passages can possibly answer: similar enough to the question, and
        mentioning its names, identifiers and numbers (the file name counts, as a title:
        "CSF" is spelled out by nist-cybersecurity-framework.pdf)."""
        if not hits:
            return False
        scores = [h.dense_score for h in hits if h.dense_score is not None]
        if (
            scores
            and max(scores) < self.settings.min_relevance
            and not _names_every_word(question, hits)
            and not self._defines_asked_term(question, hits)
        ):
            return False
        if question and missing_specifics(question, [f"{h.text} {doc_words(h.doc).title()}" for h in hits]):
            return False
        return True

    def _defines_asked_term(self, question: str, hits: Sequence[Hit]) -> bool:
        """A passage defines, expands or lists the entry of what the question asks about
        ("What does CSA stand for?" - "the Cider Safety Agreement (CSA)"): relevant, however
        little the rest of a long passage resembles so short a question."""
        if not question or (focus_term(question) is None and not code_terms(question)):
            return False
        return any(q.defines for q in rank_quotes(question, hits, None, self.settings.quote_passages))

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
        query = standalone_question(question, history)
        retriever = self.retriever
        hits = retriever.search(query, k or self.settings.top_k, collections, doc_ids)
        t_ret = time.perf_counter() - t0
        timings = {"retrieval": t_ret}
        yield Event("sources", hits)
        if not self.is_relevant(hits, query):
            timings["total"] = time.perf_counter() - t0
            yield Event("token", NO_ANSWER)
            yield Event("done", Answer(question, NO_ANSWER, [], hits, True, [], query, timings, NO_ANSWER, "abstained"))
            return
        if self.quote_first:
            # The sentence that answers, quoted with its page, needs no generation at all.
            quoted = self._quote_answer(question, query, list(hits), timings, "")
            if quoted is not None:
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
        answer = self.finish_answer(question, query, raw, kept, timings, quote_tried=self.quote_first)
        answer.timings["total"] = time.perf_counter() - t0
        yield Event("done", answer)

    def _passage_budget(self, gen) -> int:
        window = gen.context_window
        reserve = self.settings.llm_max_new_tokens + 200  # instructions, question, reply
        return max(128, min(self.settings.context_budget_tokens, window - reserve))

    def finish_answer(
        self, question: str, query: str, raw: str, hits: Sequence[Hit], timings: dict, quote_tried: bool = False
    ) -> Answer:
        """Verify the model's text against the passages and decide what the user sees.

        With the generated-first policy (a capable model):
        1. The model's claims that a passage supports are kept, cited to that passage;
           unsupported ones are flagged (or dropped with RAG_UNSUPPORTED=drop).
        2. If no claim is supported, the sentence of the passages that best answers the
           question is quoted instead, provided it covers enough of the question.
        3. Otherwise (or when the model itself says the documents lack the answer) the
           answer abstains.
        With the quoted-first policy (the small bundled model, which paraphrases wrongly
        more often than it helps — see docs/evaluation.md) steps 1 and 2 swap.
        """
        hits = list(hits)
        if self.settings.llm_backend == "extractive":
            # Sentences copied from the passages always "verify": the quote gate decides.
            quoted = None if quote_tried else self._quote_answer(question, query, hits, timings, raw)
            if quoted is not None:
                return quoted
            return Answer(question, NO_ANSWER, [], hits, True, [], query, timings, raw, "abstained")
        said_no = not raw or _says_no_answer(raw)
        claims = []
        quote_first = self.quote_first
        if quote_first and not said_no and not quote_tried:
            quoted = self._quote_answer(question, query, hits, timings, raw)
            if quoted is not None:
                return quoted
        if not said_no:
            reply = strip_passage_markup(raw)  # "guide.pdf, page 7: <<<...": the prompt's framing, copied
            verified = verify_answer(reply, hits, self.embed_sentences, self.settings.unsupported, question=query)
            claims = verified.claims
            # A supported claim that shares no word with the question, nor does the sentence
            # that supports it ("A cup of brewed coffee is about 98% water" for "How long
            # should green tea steep?"), does not answer it.
            # A question for a time, an amount or a quantity with its unit is answered only by
            # a claim that gives one ("How many dollars did it cost?" is not answered by "We
            # tested the judge on 7000 models").
            # "What is the definition of a multi-cloud deployment?" is not answered by a claim
            # that, with its support, never names a multi-cloud deployment (as for quotes).
            if any(
                c.supported
                and self._speaks_to(query, c, verified.citations)
                and narrow_answer(query, c.text) is not False
                and self._names_focus(query, c, verified.citations)
                for c in claims
            ):
                return Answer(
                    question, verified.answer, verified.citations, hits, False, claims, query, timings, raw, "generated"
                )
            if not quote_first:
                quoted = self._quote_answer(question, query, hits, timings, raw)
                if quoted is not None:
                    return quoted
        return Answer(question, NO_ANSWER, [], hits, True, claims, query, timings, raw, "abstained")

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

    @staticmethod
    def _with_support(claim: Claim, citations: Sequence[Citation]) -> str:
        """A claim and the quotes of the passages it cites."""
        return " ".join([claim.text, *(c.quote for c in citations if c.n in claim.citations)])

    def _speaks_to(self, query: str, claim: Claim, citations: Sequence[Citation]) -> bool:
        return question_coverage(query, self._with_support(claim, citations)) > 0

    def _names_focus(self, query: str, claim: Claim, citations: Sequence[Citation]) -> bool:
        focus = focus_term(query)
        return focus is None or content_words(focus) <= content_words(self._with_support(claim, citations))

    @property
    def quote_first(self) -> bool:
        """Whether the cited sentence answers before the model's own words (see answer_policy)."""
        policy = self.settings.answer_policy
        if policy == "auto":
            return self.settings.llm_backend != "openai" and self.settings.llm_model == BUNDLED
        return policy == "quoted"

    def _name_off_page(self, query: str, hit: Hit) -> bool:
        """Whether the question names something rare in the passage's document ("HotpotQA",
        "Function as a Service") that neither the passage's page nor the page before it (where
        its section may begin) mentions: a sentence there answers about something else."""
        before = self.store.page_text(hit.doc_id, hit.page - 1) if hit.page > 1 else ""
        around = f"{before} {self.store.page_text(hit.doc_id, hit.page) or hit.text} {doc_words(hit.doc).title()}"
        missing = [t for t in missing_specifics(query, [around]) if not any(ch.isdigit() for ch in t)]
        if not missing:  # numbers and identifiers are left to names_another and narrow_answer
            return False
        chunks = [c.lower() for c in self.store.chunk_texts(hit.doc_id)]
        return any(sum(t in c for c in chunks) < RARE_NAME_SHARE * len(chunks) for t in missing)

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

    def _page_covers(self, query: str, hit: Hit, lexical: float, gate: float) -> bool:
        """Whether a sentence that repeats too few of the question's words still answers it:
        its page holds every one of them, and the sentence holds some. A question retold in
        other words ("What name does the White Rabbit call Alice when he mistakes her for his
        housemaid?") is answered by a sentence that says it its own way ("'Why, Mary Ann,
        what are you doing out here?'"), on the page that tells the rest."""
        if lexical < gate - PAGE_COVERED_MARGIN:
            return False
        return question_coverage(query, self.store.page_text(hit.doc_id, hit.page) or hit.text) >= 1.0

    def _quote_answer(self, question: str, query: str, hits: list[Hit], timings: dict, raw: str) -> Answer | None:
        read = self._with_tables(hits)  # the sources shown stay the passages retrieved
        q = best_quote(query, read, self.embed_sentences, self.settings.quote_passages)
        if q is None or q.score < self.settings.min_quote_score:
            return None
        # A question for a time or a quantity with its unit ("how tall", "what time") is
        # answered by a sentence that has one: without it, no quote ("How tall was the
        # Queen of Hearts?" is not answered by a sentence about the Queen); with it, the
        # sentence may repeat fewer of the question's words ("'three inches is such a
        # wretched height to be'" for "How tall was the Caterpillar?").
        # "How does FIPS 199 define an information system?" is not answered by a sentence
        # that neither defines nor names what is asked about.
        # "How many GPUs were used?" is not answered by "... deployable LLMs on commercial GPUs",
        # nor "Which SP number ...?" by a sentence whose only numbers are the question's or a year,
        # nor "What learning rate ...?" by a sentence that never says "rate".
        said = q.shown or q.text
        focus = focus_term(query)
        if focus and not q.defines and not content_words(focus) <= content_words(said):
            return None
        named = {t for hit in read for t in naming_numbers(query, hit.doc)}
        if names_another(query, said, named):
            return None  # "LLaMA 2 ... downloaded" does not answer a question about LLaMA 3
        narrow = narrow_answer(query, said)
        if (narrow is False or uncounted(query, said) or unnamed_measure(query, said)) and not q.defines:
            return None
        h = read[q.n - 1]
        gate = self.settings.min_quote_coverage - (0.1 if narrow else 0.0)
        if q.lexical < gate and not q.defines and not self._page_covers(query, h, q.lexical, gate):
            return None
        if self._name_off_page(query, h):
            return None  # "What Kendall's tau on HotpotQA?" is not answered by a table without it
        text = q.shown or plain_text(q.text) or " ".join(q.text.split())
        citation = Citation(
            n=q.n,
            doc=h.doc,
            page=h.page,
            chunk_id=h.chunk_id,
            quote=q.text,
            quote_start=h.start + q.start,
            quote_end=h.start + q.end,
            doc_id=h.doc_id,
        )
        body = text[:-1] if text[-1:] in ".!?" else text
        answer = f"{body} [{q.n}]{text[-1] if text[-1:] in '.!?' else '.'}"
        claims = [Claim(text, [q.n], True)]
        return Answer(question, answer, [citation], hits, False, claims, query, timings, raw, "quoted")

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
            "documents_without_sentence_vectors": len(self.store.without_sentence_vectors()),
            **stats,
        }
