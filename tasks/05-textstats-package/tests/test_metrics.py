import pytest
import textstats
from textstats.metrics import (
    average_sentence_length,
    average_word_length,
    lexical_diversity,
    summary,
)

TEXT = "The cat sat. The cat ran away!"


def test_average_word_length():
    # the cat sat the cat ran away -> 3+3+3+3+3+3+4 = 22 over 7 words
    assert average_word_length(TEXT) == pytest.approx(22 / 7)


def test_average_sentence_length():
    assert average_sentence_length(TEXT) == pytest.approx(3.5)


def test_lexical_diversity():
    # distinct: the, cat, sat, ran, away
    assert lexical_diversity(TEXT) == pytest.approx(5 / 7)


def test_apostrophes_count_in_word_length():
    assert average_word_length("don't") == pytest.approx(5.0)


@pytest.mark.parametrize("func", [average_word_length, average_sentence_length, lexical_diversity])
@pytest.mark.parametrize("text", ["", " ... "])
def test_no_words_gives_zero(func, text):
    assert func(text) == 0.0


def test_summary():
    assert summary(TEXT) == {
        "words": 7,
        "unique_words": 5,
        "sentences": 2,
        "average_word_length": pytest.approx(22 / 7),
        "average_sentence_length": pytest.approx(3.5),
        "lexical_diversity": pytest.approx(5 / 7),
    }


def test_summary_empty():
    assert summary("") == {
        "words": 0,
        "unique_words": 0,
        "sentences": 0,
        "average_word_length": 0.0,
        "average_sentence_length": 0.0,
        "lexical_diversity": 0.0,
    }


def test_package_reexports():
    expected = {
        "words",
        "sentences",
        "average_word_length",
        "average_sentence_length",
        "lexical_diversity",
        "summary",
    }
    assert expected <= set(textstats.__all__)
    assert textstats.summary is summary
    assert textstats.words("A b") == ["a", "b"]
