"""Money keeps its currency; FxTable converts at dated rates with exact Decimal math."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from vlmroute.errors import ConfigurationError
from vlmroute.money import FxTable, Money, normalize_currency

AS_OF = date(2026, 11, 21)


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def cny(amount: str) -> Money:
    return Money(Decimal(amount), "CNY")


def fx(**rates: str) -> FxTable:
    return FxTable(
        base="USD",
        as_of=AS_OF,
        rates={code: Decimal(rate) for code, rate in rates.items()},
        source="test",
    )


# --- Money arithmetic -----------------------------------------------------------------------


def test_add_and_sub_keep_currency_and_are_exact() -> None:
    assert usd("0.1") + usd("0.2") == usd("0.3")
    assert (usd("0.1") + usd("0.2")).amount == Decimal("0.3")
    assert usd("1.00") - usd("0.35") == usd("0.65")
    assert (cny("2") + cny("3")).currency == "CNY"


def test_multiplication_by_int_and_decimal_keeps_currency() -> None:
    assert usd("0.035") * 3 == usd("0.105")
    assert 3 * usd("0.035") == usd("0.105")
    assert cny("2") * Decimal("0.5") == cny("1.0")
    assert (cny("2") * 7).currency == "CNY"


def test_zero_is_the_additive_identity() -> None:
    assert Money.zero("CNY") + cny("4.2") == cny("4.2")
    assert Money.zero("USD").amount == 0
    assert Money.zero("USD").currency == "USD"


def test_comparison_within_one_currency() -> None:
    assert usd("1") < usd("2")
    assert usd("2") <= usd("2")
    assert not usd("3") < usd("2")


@pytest.mark.parametrize(
    "combine",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
    ],
    ids=["add", "sub", "lt", "le"],
)
def test_mixing_currencies_is_a_value_error(combine: Any) -> None:
    with pytest.raises(ValueError, match=r"USD and CNY.*Money\.to"):
        combine(usd("1"), cny("1"))


@pytest.mark.parametrize("other", [1, Decimal(1), 1.0, "1 USD"])
def test_combining_with_non_money_is_a_type_error(other: Any) -> None:
    with pytest.raises(TypeError, match="cannot combine Money with"):
        usd("1") + other
    with pytest.raises(TypeError, match="cannot combine Money with"):
        usd("1") - other
    with pytest.raises(TypeError, match="cannot combine Money with"):
        _ = usd("1") < other


@pytest.mark.parametrize(
    "factor", [cny("3"), 1.5, True, "2"], ids=["money", "float", "bool", "str"]
)
def test_multiplying_by_anything_but_int_or_decimal_is_a_type_error(factor: Any) -> None:
    with pytest.raises(TypeError, match="int or Decimal"):
        usd("2") * factor
    with pytest.raises(TypeError, match="int or Decimal"):
        factor * usd("2")


def test_money_is_frozen() -> None:
    money = usd("1")
    with pytest.raises(AttributeError):
        money.amount = Decimal(2)  # type: ignore[misc]


def test_rounded_is_half_even_and_keeps_currency() -> None:
    assert usd("0.125").rounded().amount == Decimal("0.12")
    assert usd("0.135").rounded().amount == Decimal("0.14")
    assert usd("0.1251").rounded().amount == Decimal("0.13")
    assert usd("-0.125").rounded().amount == Decimal("-0.12")
    assert cny("2.5").rounded(0).amount == Decimal("2")
    assert cny("3.5").rounded(0).amount == Decimal("4")
    assert usd("0.0003085").rounded(6).amount == Decimal("0.000308")
    assert usd("1").rounded(3).amount.as_tuple().exponent == -3
    assert cny("2.5").rounded(0).currency == "CNY"


def test_str_shows_currency_two_decimals_and_thousands() -> None:
    assert str(usd("1234.5")) == "USD 1,234.50"
    assert str(cny("0")) == "CNY 0.00"
    assert str(usd("2.345")) == "USD 2.34"  # half-even
    assert str(usd("1234567.891")) == "USD 1,234,567.89"
    assert str(usd("0.000221")) == "USD 0.00022"
    assert str(cny("0.0084")) == "CNY 0.0084"
    assert str(usd("-0.005")) == "USD -0.0050"
    assert str(usd("0.00000003")) == "USD 0.000000030"


# --- FxTable ----------------------------------------------------------------------------------


def test_cny_to_usd_is_exact() -> None:
    table = fx(CNY="0.1408")
    assert cny("2").to("USD", table) == usd("0.2816")
    assert table.convert(cny("87.98"), "USD").amount == Decimal("12.387584")


def test_usd_to_cny_is_the_inverse_rate() -> None:
    table = fx(CNY="0.1408")
    assert table.rate("USD", "CNY") == Decimal(1) / Decimal("0.1408")
    assert usd("1").to("CNY", table) == Money(Decimal(1) / Decimal("0.1408"), "CNY")
    assert usd("0.1408").to("CNY", table).amount == Decimal(1)


def test_cross_rate_goes_through_the_base() -> None:
    table = fx(CNY="0.1408", EUR="1.1")
    assert table.rate("CNY", "EUR") == Decimal("0.1408") / Decimal("1.1")
    assert table.rate("EUR", "CNY") == Decimal("1.1") / Decimal("0.1408")


def test_base_currency_has_rate_one_and_same_currency_is_identity() -> None:
    table = fx(CNY="0.1408")
    assert table.rates["USD"] == Decimal(1)
    assert table.rate("USD", "USD") == 1
    assert table.rate("CNY", "CNY") == 1
    money = cny("5")
    assert table.convert(money, "CNY") is money
    assert table.currencies == frozenset({"USD", "CNY"})
    assert table.knows("CNY")
    assert not table.knows("EUR")


def test_rates_are_normalized_to_upper_case_and_decimal() -> None:
    table = FxTable(base="USD", as_of=AS_OF, rates={"cny": Decimal("0.1408")})
    assert table.knows("CNY")
    assert not table.knows("cny")
    assert isinstance(table.rates["CNY"], Decimal)


def test_rates_are_read_only() -> None:
    table = fx(CNY="0.1408")
    with pytest.raises(TypeError):
        table.rates["CNY"] = Decimal(1)  # type: ignore[index]


def test_lower_case_base_is_normalized_like_the_rates() -> None:
    table = FxTable(base="usd", as_of=AS_OF, rates={"CNY": Decimal("0.1408")})
    assert table.base == "USD"
    assert table.rate("CNY", "USD") == Decimal("0.1408")
    assert table.currencies == frozenset({"USD", "CNY"})


def test_a_base_rate_other_than_one_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="base currency USD must have rate 1"):
        fx(USD="2", CNY="0.1408")
    assert fx(USD="1.00", CNY="0.1408").rates["USD"] == 1


@pytest.mark.parametrize(("source", "target"), [("EUR", "USD"), ("USD", "EUR"), ("CNY", "JPY")])
def test_unknown_currency_names_the_known_ones(source: str, target: str) -> None:
    table = fx(CNY="0.1408")
    with pytest.raises(ConfigurationError) as info:
        table.rate(source, target)
    message = str(info.value)
    assert "no FX rate for" in message
    assert "known: CNY, USD" in message
    assert "fx.rates" in message


def test_converting_money_in_an_unknown_currency_fails() -> None:
    with pytest.raises(ConfigurationError, match="no FX rate for EUR"):
        Money(Decimal(1), "EUR").to("USD", fx(CNY="0.1408"))


@pytest.mark.parametrize("rate", ["0", "-0.1408"])
def test_non_positive_rate_is_rejected(rate: str) -> None:
    with pytest.raises(ConfigurationError, match="CNY must be positive"):
        fx(CNY=rate)


def test_malformed_rate_code_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="not a 3-letter ISO code"):
        FxTable(base="USD", as_of=AS_OF, rates={"EURO": Decimal(1)})


# --- normalize_currency ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"), [("USD", "USD"), ("usd", "USD"), ("Cny", "CNY"), (" eur ", "EUR")]
)
def test_normalize_currency_accepts_three_letters(given: str, expected: str) -> None:
    assert normalize_currency(given) == expected


@pytest.mark.parametrize("given", ["US", "USDX", "", "U$D", "12A", 123, None])
def test_normalize_currency_rejects_anything_else(given: Any) -> None:
    with pytest.raises(ConfigurationError, match="not a 3-letter ISO code") as info:
        normalize_currency(given)
    assert repr(given) in str(info.value)


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="3-letter"):
        normalize_currency("US")
