"""The candidate index: which list names are worth scoring for a party name.

Scoring every list name is far too slow (300,000 names per party), so candidates come
from blocking keys, each weighted by the rarity of the query token that produced it:

- exact tokens (``badege``);
- the one-deletion neighbourhood of every token of 4+ letters (SymSpell-style:
  ``badge`` and ``badeg`` both reach ``badege``), which catches one typo, one missing or
  extra letter and one transposition; query tokens of 7+ letters also look two
  deletions deep (``nikollai`` reaches ``nikolay``: a spelling on one list may be a
  defect of another's);
- consonant skeletons (``mhmd``) for queries written in Arabic or Hebrew script;
- adjacent words run together (``siemensag`` reaches ``Siemens AG``, ``xi jin ping``
  reaches ``Xi Jinping``).

A name becomes a candidate when the weight of the query tokens it shares reaches a share
of the query's total weight (``min_share``); the best ``max_candidates`` go on to full
scoring. The index is immutable once built: a new list version builds a new index.

The tables and the per-query work (blocking, bounds, ranking, scoring) live in the
compiled core ``cargowatch_native`` (``native/``, Rust): in Python they cost ~500 µs a
party name, in Rust a few tens. ``scoring.py`` stays the reference for the scores (and
writes the explanations); the unit tests hold the two to the same scores.

>>> idx = NameIndex.build([(0, "Eric Badege", "PRIMARY"), (1, "John Smith", "PRIMARY")])
>>> idx.candidates(idx.normalizer.normalize("Eric Badge"))
[0]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from cargowatch_native import NativeIndex

from enrichers.watchlist.normalize import NormalizedName, Normalizer
from enrichers.watchlist.scoring import ScoringParams, TokenStats

#: Tokens this short are only matched exactly (their deletions match everything).
MIN_FUZZY_LEN = 4
#: Tokens this long also reach list tokens two edits away.
MIN_DOUBLE_EDIT_LEN = 7
#: Query tokens whose variant vocabulary ids are kept (cleared whole when full).
VARIANT_CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class IndexedName:
    """One indexed name: which entry (position in the index's entry table) it belongs to."""

    entry: int
    name: NormalizedName
    strength: str


def native_name(name: NormalizedName) -> tuple:
    """The fields of a normalised name the compiled core reads."""
    return (name.tokens, name.legal_forms, name.numbers, name.script == "abjad", name.joined)


@dataclass(frozen=True)
class CandidateLimits:
    """How many names the index hands on, and from which bound (``MatcherConfig``)."""

    min_share: float = 0.3
    max_blocked: int = 2000  # names passing the blocking bound, best bound first
    min_score: float = 0.0  # optimistic score bound a blocked name must reach
    coverage_blend: float = 0.4
    prefilter_cutoff: float = 70.0  # token_sort_ratio below which a blocked name is not scored
    max_candidates: int = 15  # of those, fully scored (ranked by whole-name similarity)
    keep_by_bound: int = 3  # ... plus this many best by blocking bound

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))


class NameIndex:
    """Inverted index from blocking keys to name positions. Build with :meth:`build`."""

    def __init__(
        self,
        normalizer: Normalizer,
        names: list[IndexedName],
        stats: TokenStats,
        native: NativeIndex,
    ):
        self.normalizer = normalizer
        self.names = names
        self.stats = stats
        self.native = native

    @classmethod
    def build(
        cls,
        names: Iterable[tuple[int, str, str]],
        normalizer: Normalizer | None = None,
        params: ScoringParams | None = None,
    ) -> NameIndex:
        """Index ``(entry position, name, strength)`` triples; ``params`` are the
        scoring constants the compiled core scores with."""
        normalizer = normalizer or Normalizer.default()
        params = params or ScoringParams()
        norm = normalizer.normalize_once  # each list name once: not memoised
        indexed = [IndexedName(entry, norm(text), strength) for entry, text, strength in names]
        native = NativeIndex(
            [native_name(n.name) for n in indexed],
            [float(getattr(params, f.name)) for f in fields(params)],
            (MIN_FUZZY_LEN, MIN_DOUBLE_EDIT_LEN, VARIANT_CACHE_SIZE),
        )
        # document frequencies for the Python scorer (explanations): the same counts
        # the compiled core weighs tokens by
        df: dict[str, int] = {}
        for n in indexed:
            for tok in set(n.name.tokens):
                df[tok] = df.get(tok, 0) + 1
        return cls(normalizer, indexed, TokenStats(df, len(indexed)), native)

    def __len__(self) -> int:
        return len(self.names)

    def clear_caches(self) -> None:
        """Forget the memoised token variants (the benchmark measures from cold)."""
        self.native.clear_caches()

    def candidates(
        self,
        query: NormalizedName,
        min_share: float = 0.3,
        max_candidates: int = 40,
        min_score: float = 0.0,
        coverage_blend: float = 0.4,
    ) -> list[int]:
        """Name positions worth scoring for ``query``, best score bound first: sharing at
        least ``min_share`` of its token weight (through blocking keys) and with an
        optimistic score bound of at least ``min_score``.

        Rare tokens open candidates; once the weight still to come cannot lift a new
        name to ``min_share``, common tokens only add weight to names already found
        (prefix filtering). The bound is the score the shared weight would give if every
        shared part aligned perfectly (no substitution penalty: parts two edits apart
        may still align in scoring).
        """
        limits = CandidateLimits(min_share, max_candidates, min_score, coverage_blend)
        return self.native.candidates(native_name(query), limits.as_tuple(), max_candidates)

    def memory_keys(self) -> dict[str, int]:
        """Sizes of the index tables (for the benchmark report)."""
        return dict(self.native.memory_keys())
