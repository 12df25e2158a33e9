import pytest
from wordcount import count_words, top_words


def test_counts_words():
    assert count_words("The cat and the hat.") == {"the": 2, "cat": 1, "and": 1, "hat": 1}


def test_empty_text():
    assert count_words("") == {}
    assert count_words("  ... !? \n") == {}


def test_case_insensitive_and_punctuation():
    assert count_words("Go, go, GO!\nStop.") == {"go": 3, "stop": 1}


def test_apostrophes_inside_words():
    assert count_words("Don't say 'maybe' twice, don't.") == {
        "don't": 2,
        "say": 1,
        "maybe": 1,
        "twice": 1,
    }


def test_digits_are_word_characters():
    assert count_words("route 66 and route66") == {"route": 1, "66": 1, "and": 1, "route66": 1}


def test_top_words_most_frequent_first():
    text = "b a b c b a"
    assert top_words(text, 2) == [("b", 3), ("a", 2)]


def test_top_words_ties_are_alphabetical():
    assert top_words("pear apple fig apple fig pear", 3) == [("apple", 2), ("fig", 2), ("pear", 2)]


def test_top_words_fewer_words_than_n():
    assert top_words("one two", 5) == [("one", 1), ("two", 1)]


def test_top_words_zero():
    assert top_words("one two", 0) == []


def test_top_words_negative_n():
    with pytest.raises(ValueError):
        top_words("one two", -1)
