"""Text normalisation and stop-phrase matching for goods descriptions and party names.

Normalised text is lower case, without accents (``é`` -> ``e``, ``ß`` -> ``ss``), with
``.`` and apostrophes deleted (``F.A.K.`` -> ``fak``) and every other punctuation mark
read as a space. Words are then folded (a plural ``s`` dropped from words longer than
three letters) so that ``parts`` and ``part`` are the same word.

>>> normalise("  Marchandises  DIVERSES / F.A.K. ")
'marchandises diverses fak'
>>> words("Spare-Parts, 20 CTNS")
('spare', 'part', '20', 'ctn')
>>> m = PhraseMatcher(["general cargo", "stc"], trivial=["of", "ctn"], generic=["parts", "garments"])
>>> m.covers(words("STC 20 ctns of General Cargo")), m.covers(words("STC spare-parts"))
(True, False)
>>> m.covers(words("STC parts")), m.covers(words("parts of garments"))
(True, False)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

_DELETE = frozenset(".'\u2019\u2018\u02bc")
_TABLE_LIMIT = 65_536


class _CharTable(dict):
    """str.translate table filled on first sight of each character: its lower-case,
    accent-free form, a space for punctuation, nothing for ``.`` and apostrophes."""

    def __missing__(self, code: int) -> str:
        out = []
        for ch in unicodedata.normalize("NFKD", chr(code).casefold()):
            if unicodedata.combining(ch) or ch in _DELETE:
                continue
            out.append(ch.lower() if ch.isalnum() else " ")
        value = "".join(out)
        if len(self) < _TABLE_LIMIT:  # hostile input must not grow it without bound
            self[code] = value
        return value


_TABLE = _CharTable()
for _code in range(128):
    _TABLE[_code]  # noqa: B018 - warm the ASCII range


def normalise(text: str) -> str:
    """Lower-case, accent-free, punctuation-free text with single spaces.

    >>> normalise("Stückgut; N/A")
    'stuckgut n a'
    """
    return " ".join(text.translate(_TABLE).split())


def fold(word: str) -> str:
    """A word with a plural ``s`` dropped (``parts`` -> ``part``; ``glass`` stays)."""
    if len(word) > 3 and word[-1] == "s" and word[-2] != "s":
        return word[:-1]
    return word


def words(text: str) -> tuple[str, ...]:
    """The folded words of normalised ``text``."""
    return tuple(fold(w) for w in normalise(text).split())


def _has_digit(word: str) -> bool:
    return any(c.isdigit() for c in word)


class PhraseMatcher:
    """Decides whether a text is nothing but stop phrases (and trivial words).

    ``placeholders`` say nothing ("general cargo", "as per invoice"); ``generic`` terms
    name a category too broad on its own ("parts", "gifts"). ``covers(words)`` is True
    when, after dropping trivial words and every word with a digit in it, the remaining
    words split exactly into listed phrases using at most ``max_generic`` generic terms.
    An empty remainder is covered too (packaging and numbers say nothing).
    """

    def __init__(
        self,
        placeholders: Iterable[str],
        trivial: Iterable[str] = (),
        generic: Iterable[str] = (),
        max_generic: int = 1,
    ):
        self.trivial: frozenset[str] = frozenset(w for t in trivial for w in words(t))
        self.max_generic = max_generic
        compiled: dict[tuple[str, ...], int] = {}  # phrase -> 1 if generic, 0 if placeholder
        for cost, phrases in ((1, generic), (0, placeholders)):  # placeholder wins a tie
            for phrase in phrases:
                key = tuple(w for w in words(phrase) if w not in self.trivial)
                if key:
                    compiled[key] = cost
        self.phrases: dict[tuple[str, ...], int] = compiled
        self.vocabulary: frozenset[str] = frozenset(w for p in compiled for w in p)
        self.longest: int = max((len(p) for p in compiled), default=0)

    def significant(self, ws: Iterable[str]) -> list[str] | None:
        """The non-trivial (folded) words, or None as soon as one is outside every phrase."""
        out = []
        vocabulary, trivial = self.vocabulary, self.trivial
        for w in ws:
            if len(w) > 3 and w[-1] == "s" and w[-2] != "s":
                w = w[:-1]
            if w in trivial:
                continue
            if w in vocabulary:
                out.append(w)
            elif w.isalpha() or not _has_digit(w):
                return None
        return out

    def covers_text(self, text: str) -> bool:
        """``covers(words(text))``, stopping at the first word outside every phrase."""
        # Fast path: most real texts start with a content word ("Brake pads ...",
        # "Müller GmbH"); judging the first word alone spares normalising the rest.
        cut = text.find(" ", 1, 48)
        if cut > 0:
            head = text[:cut].translate(_TABLE).split()
            if head:
                w = head[0]
                if len(w) > 3 and w[-1] == "s" and w[-2] != "s":
                    w = w[:-1]
                if w.isalpha() and w not in self.vocabulary and w not in self.trivial:
                    return False
        return self.covers(text.translate(_TABLE).split())

    def covers(self, ws: Iterable[str]) -> bool:
        """True when the words (folded here if not already) are only stop phrases and trivial words."""
        rest = self.significant(ws)
        if rest is None:
            return False
        n = len(rest)
        if n == 0:
            return True
        # cost[i]: fewest generic terms splitting rest[:i] into phrases (None: no split).
        cost: list[int | None] = [0] + [None] * n
        phrases, longest = self.phrases, self.longest
        for i in range(n):
            here = cost[i]
            if here is None:
                continue
            for j in range(i + 1, min(n, i + longest) + 1):
                extra = phrases.get(tuple(rest[i:j]))
                if extra is not None:
                    total = here + extra
                    if cost[j] is None or total < cost[j]:  # type: ignore[operator]
                        cost[j] = total
        final = cost[n]
        return final is not None and final <= self.max_generic
