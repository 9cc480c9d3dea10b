"""Follow-ups read in their conversation (rag/conversation.py) and fused retrieval."""

from __future__ import annotations

from rag.conversation import CARRY_WORDS, last_answer, read_follow_up
from rag.retrieval import fuse_passages
from rag.types import Hit

HISTORY = [
    {"role": "user", "content": "When was the Harbor Point lighthouse built?"},
    {"role": "assistant", "content": "The lighthouse was built in 1872 by the harbour board [1]."},
]
# A library's IDF (0..1): rare words weigh more; 1.0 means no chunk holds the word.
IDF = {"harbor": 0.6, "point": 0.3, "lighthouse": 0.8, "built": 0.2, "harbour": 0.5, "board": 0.4, "1872": 0.9}


def idf(words):
    return {w: IDF.get(w, 1.0) for w in words}


def test_a_follow_up_borrows_the_rarest_words_of_the_previous_turns():
    turn = read_follow_up("And who designed it?", HISTORY, idf)
    assert turn.carried[0] == "lighthouse" and len(turn.carried) <= CARRY_WORDS
    assert turn.query.startswith("And who designed it?") and "lighthouse" in turn.query
    # A word of the previous answer counts 0.7 of its IDF: "1872" (0.9 x 0.7 = 0.63) ranks
    # above the question's "harbor" (0.6).
    assert turn.carried.index("1872") < turn.carried.index("harbor")


def test_words_the_follow_up_already_has_or_no_chunk_holds_are_not_carried():
    turn = read_follow_up("How tall is the lighthouse?", HISTORY, idf)
    assert "lighthouse" not in turn.carried
    assert "when" not in turn.carried and "was" not in turn.carried  # stop words
    turn = read_follow_up("who built it", [{"role": "user", "content": "What is a zorblax?"}], idf)
    assert turn.carried == []  # "zorblax" is in no chunk: it cannot help find a page
    assert turn.query == "who built it"


def test_without_a_conversation_the_question_is_read_alone():
    assert read_follow_up("And who built it?", [], idf).carried == []
    assert last_answer([]) == ""
    assert last_answer(HISTORY) == "The lighthouse was built in 1872 by the harbour board."


def _hit(cid, doc_id, page, start, end):
    return Hit(
        chunk_id=cid,
        doc=f"d{doc_id}.pdf",
        page=page,
        text="x" * (end - start),
        score=0.0,
        start=start,
        end=end,
        doc_id=doc_id,
    )


def test_fused_passages_count_one_page_region_once_and_rank_agreement_first():
    a = [_hit(1, 1, 1, 0, 100), _hit(2, 2, 3, 0, 100)]
    b = [_hit(3, 2, 3, 50, 150), _hit(4, 3, 1, 0, 100)]  # chunk 3 overlaps chunk 2: the same region
    fused = fuse_passages([a, b], [1.0, 0.5], k=5)
    assert [h.chunk_id for h in fused] == [2, 1, 4]
    assert [h.rank for h in fused] == [1, 2, 3]
    assert fused[0].start == 0  # shown as the first list cuts it
    assert len(fuse_passages([a, b], [1.0, 0.5], k=2)) == 2
