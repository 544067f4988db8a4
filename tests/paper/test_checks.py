"""The plain-text rules a paper is held to: copied or written, facts kept."""

from __future__ import annotations

from scriptorium.paper.checks import CopyIndex, english_words, facts, missing_facts, names_topic

SOURCE = (
    "The Sahara covers about 9.2 million square kilometres, roughly a third of the African "
    "continent, and it is the largest hot desert in the world."
)


def test_a_sentence_copied_or_trimmed_from_the_corpus_counts_as_copied() -> None:
    index = CopyIndex([SOURCE])
    assert index.copied(SOURCE)
    trimmed = (
        "The Sahara covers about 9.2 million square kilometres, roughly a third of the African continent."
    )
    assert index.copied(trimmed)  # trimming words is not restating
    repunctuated = (
        "the sahara covers about 9.2 million square kilometres; roughly a third of the African continent"
    )
    assert index.copied(repunctuated)


def test_a_restated_sentence_is_not_copied_but_a_long_shared_run_is() -> None:
    index = CopyIndex([SOURCE])
    assert not index.copied(
        "Roughly one third of Africa, some 9.2 million square kilometres, is Sahara desert."
    )
    run = (
        "Experts agree that about 9.2 million square kilometres roughly a third of the African "
        "continent is dry."
    )
    assert index.copied(run)  # 12+ consecutive words of the source
    assert not index.copied("Too short to judge.")


def test_names_numbers_and_dates_must_appear_in_the_cited_evidence() -> None:
    evidence = "In 1917 the American Institute of Electrical Engineers awarded Tesla the Edison Medal."
    assert missing_facts("Tesla received the Edison Medal in 1917.", evidence) == []
    assert missing_facts("Tesla received the Edison Medal in 1918.", evidence) == ["1918"]
    assert missing_facts("Westinghouse received the Edison Medal in 1917.", evidence) == ["Westinghouse"]
    assert missing_facts("In July 1917 Tesla won the medal.", evidence) == ["July"]
    # A name put in another's place is caught though the name itself occurs in the evidence.
    assert missing_facts("In 1917 the institute awarded Edison the Edison Medal.", evidence) == [
        "Edison (again)"
    ]


def test_facts_ignore_sentence_openers_and_read_thousands_separators() -> None:
    found = facts("However, the 1,200 workers of Hudson's Bay went on strike in March 1913.")
    assert found.numbers == ("1200", "1913")
    assert "However" not in found.names and {"Hudson", "Bay", "March"} <= set(found.names)
    assert missing_facts("About 1,200 workers struck.", "It employed 1200 workers who struck.") == []


def test_unknown_words_flag_misspellings_only_with_a_dictionary() -> None:
    words = frozenset(
        [
            "the",
            "a",
            "of",
            "work",
            "made",
            "clear",
            "that",
            "resistance",
            "could",
            "move",
            "quickly",
            "through",
            "bacterial",
            "populations",
        ]
    )
    index = CopyIndex(
        ["Multidrug resistance moved rapidly."], dictionary=words | {f"w{i}" for i in range(1000)}
    )
    assert index.unknown_words("Their work made clear that multidudrug resistance could move quickly.") == [
        "their",
        "multidudrug",
    ]
    assert CopyIndex(["x"]).unknown_words("Multidudrug nonsense.") == []


def test_names_with_digits_or_an_apostrophe_are_read_whole() -> None:
    evidence = "In 1697 d'Iberville, on the Pelican, studied dead Cas9, known as dCas9."
    assert missing_facts("In 1697 d'Iberville studied dCas9 and Cas9.", evidence) == []
    assert missing_facts("In 1697 Iberville studied Cas12.", evidence) == ["Cas12"]


def test_the_english_word_list_knows_real_words_a_vocabulary_lacks_and_not_misspellings() -> None:
    words = english_words()
    assert len(words) > 100_000  # pyspellchecker's list is there, not only a model's vocabulary
    index = CopyIndex(["Animal models are made by injecting reagents into eggs."], dictionary=words)
    assert index.unknown_words(
        "Scientists refine recombinant methods by microinjectting fertilized eggs."
    ) == ["microinjectting"]


def test_a_title_names_a_topic_when_it_holds_its_words_but_fillers() -> None:
    assert names_topic("The Sinking of the Titanic", "sinking of the Titanic")
    assert names_topic("Salt and Sugar: A History", "salt, sugar")
    assert not names_topic("The Titanic", "sinking of the Titanic")


def test_a_number_keeps_its_scale_word() -> None:
    evidence = "It filed with debts of about C$1.1 billion and closed 80 stores."
    assert missing_facts("Its debts came to C$1.1 million.", evidence) == ["million"]
    assert missing_facts("Its debts came to some C$1.1 billion.", evidence) == []
