"""The only place numbers become text, so wording is deterministic everywhere."""

from __future__ import annotations

import math


def integer(n: int) -> str:
    return f"{int(n):,}"


def number(x: float | None, digits: int = 4) -> str:
    """Significant digits, no exponent for everyday magnitudes: 110.5971, 0.0123, 1,619.833; a negative number
    with a true minus sign, as every signed figure of the report ("−0.025", never "-0.025")."""
    text = _number(x, digits)
    return "−" + text[1:] if text.startswith("-") else text


def _number(x: float | None, digits: int) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    magnitude = abs(x)
    if magnitude >= 1000:
        return f"{x:,.1f}"
    if magnitude < 1e-4:
        return f"{x:.{digits - 1}e}"
    decimals = max(0, digits - 1 - math.floor(math.log10(magnitude)))
    return f"{x:.{decimals}f}"


def percent(share: float | None, decimals: int = 1) -> str:
    """A share as a percentage; a share that is not 0 or 1 never reads as 0% or 100% after rounding."""
    if share is None:
        return "n/a"
    text = f"{share * 100:.{decimals}f}%"
    step = 10.0 ** -decimals
    if 0 < share and float(text[:-1]) == 0:
        return f"under {step:.{decimals}f}%"
    if share < 1 and float(text[:-1]) == 100:
        return f"over {100 - step:.{decimals}f}%"
    return text


def possessive(name: str) -> str:
    """class 7's, stripes' (a name ending in s takes only the apostrophe)."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def ratio(x: float | None) -> str:
    if x is None:
        return "n/a"
    if 0.95 <= x < 1.05:  # near 1 the side of 1 matters (below: no separation at all): two decimals show it
        return f"{x:.2f}×"
    return f"{x:.1f}×" if x < 100 else f"{x:,.0f}×"


def shape(dims) -> str:
    dims = list(dims)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st."""
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{integer(n)}{suffix}"


def listing(items) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def count(n: int) -> str:
    """Large counts in words a reader can compare: 1.82 G, 3.5 M, 21.8 k."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{number(n / size, 3)} {suffix}"
    return integer(n)


def fixed(x: float | None, decimals: int = 1) -> str:
    """A fixed number of decimals, for dense tables; "–" where the value is not finite (stored as null)."""
    return "–" if x is None else f"{x:.{decimals}f}"


def visible(text: str) -> str:
    """Text from the data with every control or format character (escape sequences, line breaks, bidi
    overrides) shown as its escape, so that it cannot act on a terminal, a table or a line of Markdown."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in str(text))


MOST_SHARE_DECIMALS = 4  # a share within 0.00005 percentage points of 0% or 100% is shown as that bound


def _reads_inside(share: float, decimals: int) -> bool:
    return 0 < float(f"{share * 100:.{decimals}f}") < 100


def share_decimals(shares, least: int = 1) -> int:
    """Decimals at which no share strictly between 0 and 1 reads as 0% or 100%: ``least``, more where a share
    lies closer to either, so that "99.96–100.0%" never reads "100.0–100.0%". A share that would read as a bound
    even at MOST_SHARE_DECIMALS (an ECE of 1e−9; a Wilson interval's end of all successes, 1 − 1e−16) adds no
    decimals: it is shown as that bound."""
    inner = [s for s in shares if s is not None and _reads_inside(s, MOST_SHARE_DECIMALS)]
    for decimals in range(least, MOST_SHARE_DECIMALS + 1):
        if all(_reads_inside(s, decimals) for s in inner):
            return decimals
    return max(least, MOST_SHARE_DECIMALS)


def percent_range(low: float, high: float, decimals: int | None = None) -> str:
    """A 95% interval of a share, "88.4–94.2%"; with enough decimals that an end other than 0% or 100% does
    not read as one ("99.96–100.0%")."""
    decimals = share_decimals((low, high)) if decimals is None else decimals
    return f"{low * 100:.{decimals}f}–{high * 100:.{decimals}f}%"


def percent_with_range(value: float, low: float, high: float) -> tuple[str, str]:
    """A share and its 95% interval at one number of decimals: ("99.96%", "99.91–100.0%"), never
    ("over 99.9%", "100.0–100.0%")."""
    decimals = share_decimals((value, low, high))
    return percent(value, decimals), percent_range(low, high, decimals)


def percent_ci(value: float, low: float, high: float) -> str:
    """A share with its 95% interval: "91.8% (95% CI 88.4–94.2%)"."""
    shown, interval = percent_with_range(value, low, high)
    return f"{shown} (95% CI {interval})"


def points_range(low: float, high: float) -> str:
    """A 95% interval of a difference of shares in percentage points, "−1.0 to 2.4"; more decimals where an end
    other than 0 would round to 0 (``shown_decimals``), so that an interval above 0 never reads "0.0 to 0.6", and
    where an end short of 100 would round to 100 (``short_of_hundred``)."""
    low, high = low * 100, high * 100
    decimals = short_of_hundred((low, high), shown_decimals((low, high), 1))
    return f"{signed_shown(low, decimals)} to {signed_shown(high, decimals)}"


def short_of_hundred(points, decimals: int) -> int:
    """Decimals that keep a number of points short of ±100 (a difference of two shares) from reading 100: a mean
    confidence of 99.97% against an accuracy of 0 is 99.97 points, not "100.0" beside its calibration error of
    99.97% (at most MOST_DECIMALS)."""
    while decimals < MOST_DECIMALS and any(abs(x) < 100 and abs(round(x, decimals)) == 100 for x in points):
        decimals += 1
    return decimals


MOST_DECIMALS = 6  # fixed decimals at most: a smaller number is written with its own digits (``signed_shown``)


def shown_decimals(values, least: int) -> int:
    """Decimals that show every value other than 0 as other than 0: ``least``, more for a smaller value (at most
    MOST_DECIMALS; a value too small for them is left to ``signed_shown`` and does not add decimals to the rest).
    An interval entirely above 0 then never shows an end of 0."""
    sizes = [abs(x) for x in values if abs(x) >= 10.0 ** -MOST_DECIMALS]
    if not sizes:
        return least
    return min(MOST_DECIMALS, max(least, -math.floor(math.log10(min(sizes)))))


def signed_shown(x: float, decimals: int) -> str:
    """``signed`` at ``decimals``, except a number other than 0 that would read as 0 there: written with its own
    significant digits ("2.0e−09"), so that an interval entirely above 0 never shows an end of "0.000000"."""
    if x != 0 and round(x, decimals) == 0:
        return number(x, 2).replace("e-", "e−")
    return signed(x, decimals)


def signed(x: float, decimals: int = 2) -> str:
    """A fixed number of decimals with a true minus sign, and no "−0.00": "−0.12"."""
    return (f"{x:.{decimals}f}" if round(x, decimals) else f"{0.0:.{decimals}f}").replace("-", "−")
