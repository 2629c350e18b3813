"""Score two normalised names: name-part alignment weighted by token rarity.

The score (0-1) and the features behind it:

- every token of one name is aligned with at most one token of the other (best pairs
  first); token similarity is the Indel ratio, 0.8 for an initial against a name starting
  with that letter, the consonant skeleton for Arabic/Hebrew-script names;
- tokens weigh by their rarity in the indexed lists (IDF): ``mohammed`` or ``trading``
  agreeing says less than ``badege`` agreeing;
- ``coverage``: how much of the shorter name is found in the longer one, blended with
  the symmetric overlap (extra middle names cost a little, a different surname a lot);
- ``conflict``: both names keep unaligned tokens (a substitution, not an omission);
- numbers must agree (``Management Company 23`` is not ``Management Company``);
- legal forms of different classes (AG vs GmbH) cost a little;
- run-together spelling (``SiemensAG``, ``FridrichBuchenberg``) is compared whole.

>>> from enrichers.watchlist.normalize import Normalizer
>>> n = Normalizer.default()
>>> round(score_names(n.normalize("Sergi Lavrov"), n.normalize("Sergei Lavrov")).score, 2)
0.93
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz.distance import Indel

from enrichers.watchlist.normalize import NormalizedName, skeleton

#: Token similarity below this does not align two tokens.
MIN_TOKEN_SIM = 0.63
#: Similarity of two spellings that differ only in vowels.
VOWEL_VARIANT_SIM = 0.9


@dataclass(frozen=True)
class ScoringParams:
    """The matcher's tunable constants (the threshold lives with the screener)."""

    coverage_blend: float = 0.4  # weight of shorter-name coverage vs symmetric overlap
    single_word_blend: float = 0.15  # the same when the shorter name is one word
    conflict_base: float = 0.45  # any unaligned part left on *both* sides
    conflict_scale: float = 1.0  # times the unaligned weight share left on both sides
    sim_power: float = 1.5  # near-misses of one part count for less than exact parts
    min_token_sim: float = MIN_TOKEN_SIM
    number_penalty: float = 0.2  # numbers on one side only, or disagreeing
    legal_form_penalty: float = 0.08  # both have legal forms of different classes
    initial_sim: float = 0.8
    initial_weight: float = 0.6  # an initial carries this share of a full token's weight
    joined_floor: float = 0.9  # whole-string similarity that counts for joined spellings


class TokenStats:
    """Document frequencies of tokens over the indexed names: rare tokens weigh more.

    ``weight(t)`` is in [0.25, 1]: 1 for a token seen in no indexed name, lower the more
    names carry it.
    """

    def __init__(self, df: dict[str, int] | None = None, n_names: int = 0):
        self.df = df or {}
        self.n = max(n_names, 1)
        self._log_n = math.log(self.n + 1)
        self._cache: dict[str, float] = {}

    @classmethod
    def from_names(cls, names: Iterable[NormalizedName]) -> TokenStats:
        df: dict[str, int] = {}
        n = 0
        for name in names:
            n += 1
            for tok in set(name.tokens):
                df[tok] = df.get(tok, 0) + 1
        return cls(df, n)

    def weight(self, token: str) -> float:
        w = self._cache.get(token)
        if w is None:
            df = self.df.get(token, 0)
            if df <= 0 or self.n <= 1:
                w = 1.0
            else:
                idf = math.log((self.n + 1) / (df + 0.5)) / self._log_n
                w = 0.25 + 0.75 * min(1.0, max(0.0, idf))
            if len(token) == 1:
                w *= 0.5
            self._cache[token] = w
        return w


EMPTY_STATS = TokenStats()


@dataclass
class NameScore:
    """A score with its features: why two names match (or not)."""

    score: float
    features: dict[str, float] = field(default_factory=dict)
    pairs: list[tuple[str, str, float]] = field(default_factory=list)

    @classmethod
    def from_core(cls, detail: tuple, a: NormalizedName, b: NormalizedName) -> NameScore:
        """The score the compiled core's ``explain`` / ``score_detail`` reports for ``a``
        against ``b`` (a ``DetailTuple``: score, exact, aligned part indices, unrounded
        features), rounded and named as :func:`score_names` does."""
        score, exact, pairs, coverage, overlap, conflict, joined, number, legal = detail
        ta, tb = a.tokens, b.tokens
        if not ta or not tb:
            return cls(0.0)
        if exact:
            return cls(score, {"exact": 1.0}, [(t, t, 1.0) for t in ta])
        features = {
            "coverage": round(coverage, 3),
            "overlap": round(overlap, 3),
            "conflict": round(conflict, 3),
        }
        if joined is not None:
            features["joined"] = round(joined, 3)
        if number:
            features["number_mismatch"] = 1.0
        if legal:
            features["legal_form_mismatch"] = 1.0
        return cls(score, features, [(ta[i], tb[j], s) for i, j, s in pairs])

    def explain(self) -> str:
        """A one-line account for an officer: aligned parts and the features."""
        # lists, not generators: join builds a list anyway (one per hit screened)
        parts = ", ".join([f"{a}~{b}:{s:.2f}" for a, b, s in self.pairs])
        feats = ", ".join([f"{k}={v:.2f}" for k, v in self.features.items() if v])
        return f"parts[{parts}] {feats}".strip()


@lru_cache(maxsize=1_000_000)
def token_similarity(a: str, b: str, abjad: bool = False, initial_sim: float = 0.8) -> float:
    """Similarity of two name parts in [0, 1].

    >>> token_similarity("scholz", "scholze"), token_similarity("j", "joachim")
    (0.92, 0.8)
    """
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if la == 1 or lb == 1:
        # an initial stands for a Latin name; an abjad transliteration's first letter
        # says little about the written name
        return initial_sim if a[0] == b[0] and not abjad else 0.0
    if a.isdigit() or b.isdigit():
        return 0.0
    sim = Indel.normalized_similarity(a, b)
    if 0.5 <= sim < VOWEL_VARIANT_SIM and la >= 4 and lb >= 4 and skeleton(a) == skeleton(b):
        # vowels are where transliterations differ most (Usama/Osama, Ladin/Laden)
        sim = VOWEL_VARIANT_SIM
    if abjad:
        sa, sb = skeleton(a), skeleton(b)
        if sa and sb:
            # short skeletons ("l" of Ali) collide easily: they earn less
            credit = 0.95 if min(len(sa), len(sb)) >= 3 else 0.8
            sim = max(sim, credit * Indel.normalized_similarity(sa, sb))
    return round(sim, 2) if sim < 1 else 1.0


def align(
    a: tuple[str, ...], b: tuple[str, ...], abjad: bool, params: ScoringParams
) -> list[tuple[int, int, float]]:
    """One-to-one alignment of name parts, best pairs first (greedy)."""
    cands: list[tuple[float, int, int]] = []
    for i, ta in enumerate(a):
        for j, tb in enumerate(b):
            s = token_similarity(ta, tb, abjad, params.initial_sim)
            if s >= params.min_token_sim:
                cands.append((s, i, j))
    cands.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_a: set[int] = set()
    used_b: set[int] = set()
    out: list[tuple[int, int, float]] = []
    for s, i, j in cands:
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        out.append((i, j, s))
    return out


def can_reach(
    a: NormalizedName,
    b: NormalizedName,
    floor: float,
    params: ScoringParams,
    stats: TokenStats = EMPTY_STATS,
) -> bool:
    """False when ``score_names(a, b)`` is sure to stay below ``floor``: the fast reject
    of a candidate, at a fraction of the cost of scoring it.

    Parts align only with a part at least ``min_token_sim`` alike, so the score is
    bounded by the parts that have such a partner at all:

    - unless every part of one name has a partner, both names keep a part the other
      lacks (a substitution) and the conflict factor caps the token score at
      ``1 - conflict_base``;
    - otherwise (names without initials) the overlap is at most the weight of the parts
      with a partner, each aligned perfectly;
    - the joined spelling counts only from ``joined_floor``; number and legal-form
      mismatches cost what they cost in scoring.

    >>> from enrichers.watchlist.normalize import Normalizer
    >>> n = Normalizer.default()
    >>> p = ScoringParams()
    >>> can_reach(n.normalize("Eric Badge"), n.normalize("Eric Badege"), 0.67, p)
    True
    >>> can_reach(n.normalize("Eric Miller"), n.normalize("Eric Badege"), 0.67, p)
    False
    """
    ta, tb = a.tokens, b.tokens
    if not ta or not tb:
        return floor <= 0
    abjad = (a.script == "abjad") != (b.script == "abjad")
    m, init = params.min_token_sim, params.initial_sim
    part_a = [False] * len(ta)
    part_b = [False] * len(tb)
    for i, x in enumerate(ta):
        for j, y in enumerate(tb):
            if token_similarity(x, y, abjad, init) >= m:
                part_a[i] = part_b[j] = True
    mult = 1.0
    if set(a.numbers) != set(b.numbers):
        mult *= 1 - params.number_penalty
    if a.legal_forms and b.legal_forms and not set(a.legal_forms) & set(b.legal_forms):
        mult *= 1 - params.legal_form_penalty
    need = floor - 1e-4  # scores are rounded to 4 places
    if all(part_a) or all(part_b):
        cap = 1.0
        if all(len(t) > 1 for t in ta) and all(len(t) > 1 for t in tb):
            # no initials: part weights are the plain token weights
            wa = [stats.weight(t) for t in ta]
            wb = [stats.weight(t) for t in tb]
            got = sum(w for w, ok in zip(wa, part_a, strict=True) if ok)
            got += sum(w for w, ok in zip(wb, part_b, strict=True) if ok)
            dice = got / (sum(wa) + sum(wb))
            blend = params.coverage_blend if min(len(ta), len(tb)) > 1 else params.single_word_blend
            cap = min(1.0, blend + (1 - blend) * dice)
    else:
        cap = 1 - params.conflict_base
    if cap * mult >= need:
        return True
    joined = max(
        Indel.normalized_similarity(a.joined, b.joined),
        Indel.normalized_similarity(a.compact, b.compact),
    )
    if abjad:
        sk = Indel.normalized_similarity(skeleton(a.compact), skeleton(b.compact))
        if sk >= 0.95:
            joined = max(joined, 0.95 * sk)
    return joined >= params.joined_floor and joined * mult >= need


def score_names(
    a: NormalizedName,
    b: NormalizedName,
    stats: TokenStats = EMPTY_STATS,
    params: ScoringParams | None = None,
) -> NameScore:
    """Score query name ``a`` against list name ``b`` (symmetric up to rounding)."""
    p = params or _DEFAULT_PARAMS
    ta, tb = a.tokens, b.tokens
    if not ta or not tb:
        return NameScore(0.0)
    if ta == tb and a.legal_forms == b.legal_forms:
        return NameScore(1.0, {"exact": 1.0}, [(t, t, 1.0) for t in ta])
    # Skeletons bridge an abjad spelling and a Latin one; two abjad spellings compare as is.
    abjad = (a.script == "abjad") != (b.script == "abjad")

    def w(tok: str, other_len: int) -> float:
        base = stats.weight(tok)
        return base * p.initial_weight if len(tok) == 1 and other_len > 1 else base

    pairs = align(ta, tb, abjad, p)
    wa = [stats.weight(t) for t in ta]
    wb = [stats.weight(t) for t in tb]
    # an initial aligned with a full name carries only part of that name's weight
    for i, j, _ in pairs:
        if len(ta[i]) == 1 and len(tb[j]) > 1:
            wb[j] = wb[j] * p.initial_weight
            wa[i] = wb[j]
        elif len(tb[j]) == 1 and len(ta[i]) > 1:
            wa[i] = wa[i] * p.initial_weight
            wb[j] = wa[i]
    WA, WB = sum(wa), sum(wb)
    sp = p.sim_power
    got_a = sum(s**sp * wa[i] for i, _, s in pairs)
    got_b = sum(s**sp * wb[j] for _, j, s in pairs)
    cov_a, cov_b = got_a / WA, got_b / WB
    dice = (got_a + got_b) / (WA + WB)
    shorter = cov_a if len(ta) < len(tb) or (len(ta) == len(tb) and WA <= WB) else cov_b
    # A one-word name found inside a longer one ("John" in "John Delgado") is weak
    # evidence: coverage of one word says little, so the symmetric overlap decides.
    blend = p.coverage_blend if min(len(ta), len(tb)) > 1 else p.single_word_blend
    token_score = blend * shorter + (1 - blend) * dice

    # Unaligned parts on both sides: a substitution (different surname), not an omission.
    un_a = 1 - sum(wa[i] for i, _, _ in pairs) / WA
    un_b = 1 - sum(wb[j] for _, j, _ in pairs) / WB
    conflict = min(un_a, un_b)
    if conflict > 0:
        token_score *= max(0.0, 1 - p.conflict_base - p.conflict_scale * conflict)
    features: dict[str, float] = {
        "coverage": round(shorter, 3),
        "overlap": round(dice, 3),
        "conflict": round(conflict, 3),
    }

    # Joined or split spelling: compare the whole strings when token counts differ.
    score = token_score
    # (not when a number is what differs: "Management Company 23" is no joined spelling)
    na, nb = set(a.numbers), set(b.numbers)
    one_sided_number = bool(na) != bool(nb)
    if not one_sided_number and (len(ta) != len(tb) or len(pairs) < min(len(ta), len(tb))):
        joined = max(
            Indel.normalized_similarity(a.joined, b.joined),
            Indel.normalized_similarity(a.compact, b.compact),
        )
        if abjad:
            sk = Indel.normalized_similarity(skeleton(a.compact), skeleton(b.compact))
            if sk >= 0.95:
                joined = max(joined, 0.95 * sk)
        if joined >= p.joined_floor and joined > score:
            features["joined"] = round(joined, 3)
            score = joined

    if na != nb:
        features["number_mismatch"] = 1.0
        score *= 1 - p.number_penalty
    if a.legal_forms and b.legal_forms and not set(a.legal_forms) & set(b.legal_forms):
        features["legal_form_mismatch"] = 1.0
        score *= 1 - p.legal_form_penalty
    score = max(0.0, min(1.0, score))
    return NameScore(round(score, 4), features, [(ta[i], tb[j], s) for i, j, s in pairs])


_DEFAULT_PARAMS = ScoringParams()
