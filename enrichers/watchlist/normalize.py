"""Name normalisation: one party or list name into comparable tokens.

Steps, in order: Unicode NFKC and case folding; transliteration of every script to Latin
(``unidecode``: Cyrillic, Greek, Arabic, Hebrew, Chinese...); punctuation and spacing
(hyphens and dots split, apostrophes join, runs of single letters such as ``A.B.C.`` join);
number words and ordinals to digits; stop words and honorifics dropped; legal forms
(``Aktiengesellschaft`` = ``AG``, ``Limited Liability Company`` = ``LLC``) replaced by a
canonical form and set apart from the name proper, so they count for little but still
disagree when they differ.

Legal forms come from a table: the OpenSanctions ``rigour`` org-types YAML in the
reference-data directory (``name_matching/rigour_org_types.yml``) when present, plus a
small built-in table so the matcher works without it.

>>> norm = Normalizer.default()
>>> n = norm.normalize("Siemens Aktiengesellschaft")
>>> n.tokens, n.legal_forms
(('siemens',), ('jsc',))
>>> norm.normalize("Владимир Путин").tokens
('vladimir', 'putin')
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import msgspec
from cargowatch_native import NativeNormalizer
from unidecode import unidecode

#: Words that carry no identity in a party name.
STOP_WORDS: frozenset[str] = frozenset({"the", "and", "of", "et", "und", "y", "for"})

#: Titles and honorifics dropped from names (people are listed with and without them).
HONORIFICS: frozenset[str] = frozenset(
    {
        "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "lord", "sheikh", "shaikh",
        "shaykh", "haji", "hajji", "alhaj", "mullah", "mulla", "maulavi", "mawlawi", "maulana",
        "qari", "sayyid", "imam", "maulawi", "mawlana", "moulavi", "herr", "frau", "gen", "general", "col", "colonel", "capt",
        "captain", "hon", "rev",
    }
)  # fmt: skip

_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5",
    "forty": "40", "fifty": "50", "twenty": "20", "thirty": "30", "hundred": "100",
}  # fmt: skip
_ROMAN = {
    "ii": "2",
    "iii": "3",
    "iv": "4",
    "vi": "6",
    "vii": "7",
    "viii": "8",
    "ix": "9",
    "xi": "11",
    "xii": "12",
}
_NUMBER_LIKE = frozenset(_NUMBER_WORDS) | frozenset(_ROMAN)
_DROPPED = STOP_WORDS | HONORIFICS
_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)$")
_ABBREVIATIONS = {
    "intl": "international",
    "int'l": "international",
    "natl": "national",
    "mfg": "manufacturing",
}

# Built-in legal forms (alias -> generic class); the rigour table extends it.
_BUILTIN_LEGAL_FORMS: dict[str, str] = {
    "limited": "llc", "ltd": "llc", "llc": "llc", "l l c": "llc", "limited liability company": "llc",
    "gmbh": "llc", "ooo": "llc", "sarl": "llc", "srl": "llc", "bv": "llc", "pty": "llc",
    "inc": "llc", "incorporated": "llc", "corp": "corp", "corporation": "corp",
    "co": "co", "company": "co", "co ltd": "llc", "plc": "jsc", "public limited company": "jsc",
    "ag": "jsc", "aktiengesellschaft": "jsc", "sa": "jsc", "nv": "jsc", "spa": "jsc",
    "jsc": "jsc", "joint stock company": "jsc", "oao": "jsc", "zao": "jsc", "pao": "jsc",
    "ojsc": "jsc", "cjsc": "jsc", "pjsc": "jsc",
    "open joint stock company": "jsc", "closed joint stock company": "jsc",
    "public joint stock company": "jsc", "lp": "lp", "llp": "lp", "kg": "lp",
    "fze": "llc", "fzco": "llc", "fzc": "llc", "est": "est", "establishment": "est",
    "as": "jsc", "ab": "jsc", "oy": "jsc", "kk": "jsc", "se": "jsc",
}  # fmt: skip

_ABJAD = re.compile(
    r"[\u0590-\u05ff\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]"
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_SPLIT = re.compile(r"[^0-9a-z]+")


class NormalizedName(msgspec.Struct, frozen=True):
    """A name ready to compare: identity tokens apart from legal forms.

    ``joined`` is every word (legal forms included) run together, so ``SiemensAG`` and
    ``Siemens AG`` meet. ``script`` is ``latin``, ``abjad`` (Arabic/Hebrew: vowels are not written, so the
    matcher also compares consonant skeletons) or ``cjk``. A Struct rather than a frozen
    dataclass: one is made per party name screened, and a Struct is made 8x faster.
    """

    original: str
    tokens: tuple[str, ...]
    legal_forms: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    script: str = "latin"
    joined: str = ""

    @property
    def key(self) -> str:
        """The normalised name as one string (the cache and exact-match key)."""
        return " ".join(self.tokens)

    @property
    def compact(self) -> str:
        """All tokens joined without spaces: catches split and joined words."""
        return "".join(self.tokens)


class _Transliteration(dict[int, str]):
    """``unidecode`` of one character, memoised: unidecode maps every character on its
    own, so ``str.translate`` with this table gives the same string, in C."""

    def __missing__(self, codepoint: int) -> str:
        out = self[codepoint] = unidecode(chr(codepoint))
        return out


_TRANSLITERATION = _Transliteration()


def fold(text: str) -> str:
    """Unicode-fold and transliterate to lower-case ASCII.

    >>> fold("Müller-Lüdenscheidt"), fold("习近平")
    ('muller-ludenscheidt', 'xi jin ping ')
    """
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = text.translate(_TRANSLITERATION)
    return text.casefold()


@lru_cache(maxsize=200_000)
def _word_tokens(text: str) -> tuple[str, ...]:
    """Lower-case ASCII tokens of a folded name: apostrophes join, other punctuation splits,
    runs of single letters (``a b c``, from ``A.B.C.``) join into one token."""
    text = text.replace("'s ", " ").replace("`", "").replace("'", "").replace("\u2019", "")
    text = text.replace("&", " and ")
    for abbr, full in _ABBREVIATIONS.items():
        if abbr in text:
            text = re.sub(rf"\b{re.escape(abbr)}\b", full, text)
    raw = [t for t in _SPLIT.split(text) if t]
    out: list[str] = []
    run: list[str] = []
    for tok in raw:
        if len(tok) == 1 and tok.isalpha():
            run.append(tok)
            continue
        if run:
            out.append("".join(run) if len(run) > 1 else run[0])
            run = []
        out.append(tok)
    if run:
        out.append("".join(run) if len(run) > 1 else run[0])
    return tuple(out)


def _number(tok: str) -> str | None:
    if tok[0].isdigit():
        if tok.isdigit():
            return tok.lstrip("0") or "0"
        m = _ORDINAL.match(tok)
        return m.group(1) if m else None
    return _NUMBER_WORDS.get(tok) or _ROMAN.get(tok)


class Normalizer:
    """Turns names into :class:`NormalizedName`; holds the legal-form table.

    The word-level steps (after folding) run in the compiled core
    (``cargowatch_native.NativeNormalizer``, handed this module's tables); with
    ``compiled=False`` they run in Python, the reference the core is tested against.
    """

    def __init__(self, legal_forms: dict[str, str] | None = None, compiled: bool = True):
        table = dict(_BUILTIN_LEGAL_FORMS)
        table.update(legal_forms or {})
        # Keyed by token tuple; longest phrases are tried first.
        self._forms: dict[tuple[str, ...], str] = {}
        for alias, generic in table.items():
            toks = _word_tokens(fold(alias))
            if toks:
                self._forms.setdefault(toks, generic)
        self._max_len = max((len(k) for k in self._forms), default=1)
        # phrases by their first and last word, longest first: a word that starts (ends)
        # no legal form is passed over with one lookup
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        self._by_last: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        longest_first = sorted(self._forms.items(), key=lambda kv: -len(kv[0]))
        for phrase, generic in longest_first:
            self._by_first.setdefault(phrase[0], []).append((phrase, generic))
            self._by_last.setdefault(phrase[-1], []).append((phrase, generic))
        self._native = (
            NativeNormalizer(
                [(list(phrase), generic) for phrase, generic in longest_first],
                sorted(_DROPPED),
                {**_ROMAN, **_NUMBER_WORDS},  # a number word before a roman numeral
                list(_ABBREVIATIONS.items()),
            )
            if compiled
            else None
        )
        self._cache: dict[str, NormalizedName] = {}

    @classmethod
    def default(cls, refdata: str | Path | None = None) -> Normalizer:
        """The normaliser with the rigour legal-form table from ``refdata`` when present."""
        return _default_normalizer(str(refdata) if refdata else None)

    def _form_at(
        self, words: list[str], pos: int, ending: bool, long_only: bool = False
    ) -> tuple[int, str]:
        """The legal form phrase starting at ``pos`` (or ending there when ``ending``)."""
        limit = min(self._max_len, len(words) - 1 if not long_only else len(words))
        if ending:
            phrases = self._by_last.get(words[pos - 1]) if 0 < pos <= len(words) else None
        else:
            phrases = self._by_first.get(words[pos]) if 0 <= pos < len(words) else None
        for phrase, generic in phrases or ():
            size = len(phrase)
            if size > limit:
                continue
            if ending:
                if pos - size < 0 or tuple(words[pos - size : pos]) != phrase:
                    continue
            elif tuple(words[pos : pos + size]) != phrase:
                continue
            if not long_only or size > 1 or len(phrase[0]) >= 5:
                return size, generic
        return 0, ""

    def normalize(self, name: str) -> NormalizedName:
        """Normalise one name (memoised: party names repeat; see :meth:`normalize_once`)."""
        hit = self._cache.get(name)
        if hit is not None:
            return hit
        result = self._normalize(name)
        if len(self._cache) > 500_000:
            self._cache.clear()
        self._cache[name] = result
        return result

    def normalize_once(self, name: str) -> NormalizedName:
        """Normalise one name without memoising it: the list names an index is built
        from are each normalised once, and hundreds of thousands of them in the memo
        would make every look-up of a party name a trip to memory.

        >>> Normalizer.default().normalize_once("Deutsche Bank AG").tokens
        ('deutsche', 'bank')
        """
        return self._normalize(name)

    def _normalize(self, name: str) -> NormalizedName:
        if name.isascii():
            script = "latin"
        else:
            script = "abjad" if _ABJAD.search(name) else ("cjk" if _CJK.search(name) else "latin")
        folded = fold(name)
        words = self._native.words(folded) if self._native is not None else None
        tokens, forms, numbers, joined = words if words is not None else self._words(folded)
        if not tokens:
            # not a word in it: keep the folded name rather than nothing
            tokens = (folded.strip(),)
        return NormalizedName(name, tokens, forms, numbers, script, joined)

    def _words(self, folded: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], str]:
        """Tokens, legal forms, numbers and joined words of a folded name (tokens empty
        when it has no word): what ``NativeNormalizer.words`` computes, in Python."""
        words = list(_word_tokens(folded))
        all_words = [w for w in words if w not in _DROPPED]
        forms: list[str] = []
        # Legal forms: short ones ("co", "sa", "ag") only at either end of the name, where
        # they stand; long or multi-word ones ("joint stock company") anywhere.
        tail: list[str] = []
        by_first, by_last = self._by_first, self._by_last
        while len(words) > 1 and words[-1] in by_last:
            size, generic = self._form_at(words, len(words), ending=True)
            if not size:
                break
            tail.insert(0, generic)
            del words[len(words) - size :]
        while len(words) > 1 and words[0] in by_first:
            size, generic = self._form_at(words, 0, ending=False)
            if not size:
                break
            forms.append(generic)
            del words[:size]
        tokens: list[str] = []
        numbers: list[str] = []
        i = 0
        while i < len(words):
            # most words start no legal form: one lookup passes them over
            size, generic = (
                self._form_at(words, i, ending=False, long_only=True)
                if words[i] in by_first
                else (0, "")
            )
            if size and len(words) > size:
                forms.append(generic)
                i += size
                continue
            tok = words[i]
            i += 1
            if tok in _DROPPED:
                continue
            num = _number(tok) if tok[0].isdigit() or tok in _NUMBER_LIKE else None
            if num is not None:
                numbers.append(num)
            tokens.append(num or tok)
        forms += tail
        if not tokens:
            # "The Company" or only honorifics: keep what there was rather than nothing
            tokens = [w for w in words if w]
        return tuple(tokens), tuple(forms), tuple(numbers), "".join(all_words)


def load_rigour_org_types(path: str | Path) -> dict[str, str]:
    """Alias -> generic legal-form class from rigour's ``org_types.yml``.

    The generic class (``LLC``, ``JSC``...) is what two legal forms must share to agree;
    where a type has none, its compare/display form stands in.
    """
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    out: dict[str, str] = {}
    for item in data.get("types", []):
        canonical = item.get("generic") or item.get("compare") or item.get("display")
        if not canonical:
            continue
        canonical = " ".join(_word_tokens(fold(str(canonical))))
        for alias in [item.get("display"), item.get("compare"), *item.get("aliases", [])]:
            toks = _word_tokens(fold(str(alias))) if alias else ()
            # one- and two-letter aliases ("in", "no", "go") are words and surnames far
            # more often than legal forms; the built-in table keeps the real ones (AG, SA...)
            if not toks or (len(toks) == 1 and len(toks[0]) <= 2):
                continue
            out.setdefault(str(alias), canonical)
    return out


@lru_cache(maxsize=8)
def _default_normalizer(refdata: str | None) -> Normalizer:
    if refdata is None:
        from cargowatch.settings import Settings

        refdata = Settings.load(env={}).refdata
    table = Path(refdata) / "name_matching" / "rigour_org_types.yml"
    forms = load_rigour_org_types(table) if table.is_file() else {}
    return Normalizer(forms)


# Vowels go; p/v have no letter in Arabic script and come back as b/f.
_VOWELS = str.maketrans("pv", "bf", "aeiouyw")


@lru_cache(maxsize=500_000)
def skeleton(token: str) -> str:
    """Consonant skeleton of a token, for comparing abjad-script names with their Latin
    spellings (``Mohamed`` and ``mHmd`` both give ``mhmd``). A leading ``y``/``w`` is a
    consonant (Yasin, Walid); inside a word they are usually long vowels.

    >>> skeleton("mohammed"), skeleton("hassan"), skeleton("yasin")
    ('mhmd', 'hsn', 'ysn')
    """
    head = token[:1] if token[:1] in ("y", "w") else ""
    s = head + token[len(head) :].translate(_VOWELS)
    if not s:
        return token[:1]
    out = [s[0]]
    for ch in s[1:]:
        if ch != out[-1]:
            out.append(ch)
    return "".join(out)
