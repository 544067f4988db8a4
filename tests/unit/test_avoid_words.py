"""Words a writer is barred from (vLLM `bad_words`) never include what its JSON answer must spell."""

from __future__ import annotations

from scriptorium.agents import AgentCatalog, default_outputs
from scriptorium.agents.engine import _extra_body, _writable
from scriptorium.agents.outputs import Restatement
from scriptorium.paper.plan import avoid_words
from scriptorium.tools import default_registry


def test_a_field_name_of_the_answer_is_never_barred() -> None:
    # "sentence" is the answer's only key: barring it made vLLM's grammar reject every token (HTTP 500).
    assert _writable(["context", "sentence", "chunks"], Restatement) == ["context", "chunks"]
    assert _writable(["sentence"], None) == ["sentence"]


def test_barred_words_go_to_vllm_with_and_without_a_leading_space() -> None:
    spec = AgentCatalog.load(default_registry(plugins=False), default_outputs()).get("restater")
    assert spec.model.repetition_penalty is None and spec.model.samples == 4
    assert _extra_body(spec, ["dilute"]) == {"bad_words": ["dilute", " dilute"]}
    assert _extra_body(spec, []) is None


def test_avoided_words_are_plain_lowercase_words_of_the_evidence_in_windows() -> None:
    text = "In April 1887 Westinghouse licensed the polyphase patents, renegotiating royalties in Pittsburgh."
    first, second = avoid_words(text, 0, count=3), avoid_words(text, 1, count=3)
    assert set(first) <= {"licensed", "polyphase", "patents", "renegotiating", "royalties"}
    assert first != second and not {"Westinghouse", "Pittsburgh", "estinghouse"} & set(first + second)
