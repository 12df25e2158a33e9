import pytest
from roman import from_roman, to_roman

KNOWN = [
    (1, "I"),
    (3, "III"),
    (4, "IV"),
    (9, "IX"),
    (14, "XIV"),
    (40, "XL"),
    (90, "XC"),
    (400, "CD"),
    (944, "CMXLIV"),
    (1994, "MCMXCIV"),
    (2024, "MMXXIV"),
    (3999, "MMMCMXCIX"),
]


@pytest.mark.parametrize(("number", "numeral"), KNOWN)
def test_to_roman(number, numeral):
    assert to_roman(number) == numeral


@pytest.mark.parametrize(("number", "numeral"), KNOWN)
def test_from_roman(number, numeral):
    assert from_roman(numeral) == number


@pytest.mark.parametrize("number", [0, -1, 4000, 10**6])
def test_to_roman_out_of_range(number):
    with pytest.raises(ValueError):
        to_roman(number)


@pytest.mark.parametrize("value", [2.5, "4", None])
def test_to_roman_wrong_type(value):
    with pytest.raises(TypeError):
        to_roman(value)


@pytest.mark.parametrize(
    "numeral", ["", "iv", "ABC", "IIII", "VV", "IC", "IIV", "MMMM", "XIIX", " X"]
)
def test_from_roman_rejects_invalid(numeral):
    with pytest.raises(ValueError):
        from_roman(numeral)


def test_round_trip():
    for number in range(1, 4000):
        assert from_roman(to_roman(number)) == number
