import pytest
from textstats.tokenize import sentences, words


def test_words_lowercase_in_order():
    assert words("Hi, it's me!") == ["hi", "it's", "me"]


def test_words_digits_and_separators():
    assert words("R2-D2 met C3PO\tat 10:30") == ["r2", "d2", "met", "c3po", "at", "10", "30"]


def test_words_quotes_are_not_part_of_words():
    assert words("'quoted' text") == ["quoted", "text"]


@pytest.mark.parametrize("text", ["", "   ", "?!..."])
def test_no_words(text):
    assert words(text) == []


def test_sentences_basic():
    text = "Hi there. How are you?! Fine"
    assert sentences(text) == ["Hi there.", "How are you?!", "Fine"]


def test_sentences_strip_and_newlines():
    assert sentences("  One.\n\nTwo!   Three?  ") == ["One.", "Two!", "Three?"]


def test_sentences_drop_pieces_without_words():
    assert sentences("... Real one. ?! ") == ["Real one."]


def test_sentences_empty():
    assert sentences("") == []
