"""Party screening against the loaded watchlists: the API the stream and the offline
screen call.

:class:`ScreeningIndex` is an immutable snapshot of one or more list versions (entries,
the candidate index, the IMO table). :class:`WatchlistScreener` holds the current
snapshot, screens batches of :class:`PartyQuery` through it with an LRU cache of names
already screened against that snapshot, and swaps snapshots atomically (a batch always
runs on one snapshot, so screening keeps answering with the old lists during a swap).

Every match explains itself: which list name, aligned name parts, features, the country
qualifier and the score.

>>> screener = WatchlistScreener.from_versions([load_watchlist("un.xml")])  # doctest: +SKIP
>>> screener.screen_parties([PartyQuery("Eric Badge", role="CONSIGNEE")])  # doctest: +SKIP
[[WatchlistMatch(party_role='CONSIGNEE', party_name='Eric Badge', list_id='un_sc_sanctions',
  entry_id='CDi.001', matched_name='ERIC BADEGE', score=0.93, explanation='...')]]
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import count

import msgspec

from enrichers.watchlist.index import CandidateLimits, NameIndex, native_name
from enrichers.watchlist.loaders import WatchlistVersion
from enrichers.watchlist.normalize import NormalizedName, Normalizer
from enrichers.watchlist.scoring import ScoringParams
from schemas.model import Manifest, WatchlistEntry, WatchlistMatch

#: The one fixed threshold (0-1) the quality figures are measured at.
MATCH_THRESHOLD = 0.67

_STRENGTH_FACTOR = {"PRIMARY": 1.0, "STRONG": 1.0, "WEAK": 0.9}
_IMO_DIGITS = re.compile(r"(\d{7})")


class PartyQuery(msgspec.Struct, frozen=True):
    """One name to screen: a manifest party, or a vessel (``vessel_imo`` set).

    ``country`` (ISO alpha-2) qualifies the match: agreeing with the entry's countries
    raises the score a little, disagreeing lowers it a little; it never decides alone.
    """

    name: str
    role: str = ""
    country: str | None = None
    vessel_imo: str | None = None


@dataclass(frozen=True)
class MatcherConfig:
    """Screening settings: threshold, candidate limits, qualifiers, cache size."""

    threshold: float = MATCH_THRESHOLD
    max_matches: int = 5
    min_share: float = 0.3
    max_blocked: int = 2000  # names passing the blocking bound, best bound first
    max_candidates: int = 15  # of those, fully scored (ranked by whole-name similarity)
    keep_by_bound: int = 3  # ... plus this many best by blocking bound
    prefilter_cutoff: float = 70.0  # token_sort_ratio below which a blocked name is not scored
    candidate_margin: float = 0.3  # score bound below the threshold still worth ranking
    country_bonus: float = 0.03
    country_penalty: float = 0.05
    cache_size: int = 200_000
    params: ScoringParams = field(default_factory=ScoringParams)


class Hit(msgspec.Struct, frozen=True):
    """One entry found for a query, before it becomes a WatchlistMatch."""

    entry: int
    score: float
    matched_name: str
    explanation: str


_generation = count(1)


class ScreeningIndex:
    """An immutable snapshot: the entries of some list versions and their name index."""

    def __init__(
        self,
        versions: Sequence[WatchlistVersion],
        normalizer: Normalizer | None = None,
        config: MatcherConfig | None = None,
    ):
        self.config = config or MatcherConfig()
        self.generation = next(_generation)
        self.versions: dict[str, str] = {v.list_id: v.version for v in versions}
        self.entries: list[WatchlistEntry] = [e for v in versions for e in v.entries]
        triples = ((pos, n.name, n.strength) for pos, e in enumerate(self.entries) for n in e.names)
        self.names = NameIndex.build(triples, normalizer, self.config.params)
        self.imo: dict[str, list[int]] = {}
        for pos, e in enumerate(self.entries):
            for ident in e.identifiers:
                if ident.type == "IMO":
                    m = _IMO_DIGITS.search(ident.value)
                    if m:
                        self.imo.setdefault(m.group(1), []).append(pos)
        self._cache: OrderedDict[tuple, tuple[Hit, ...]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def empty(cls) -> ScreeningIndex:
        return cls([])

    def __len__(self) -> int:
        return len(self.names)

    # -- one query ------------------------------------------------------------------

    def search(
        self, query: PartyQuery, threshold: float | None = None, top: int | None = None
    ) -> tuple[Hit, ...]:
        """Entries matching ``query`` at or above ``threshold``, best first (cached)."""
        return self.search_many([query], threshold, top)[0]

    def search_many(
        self, queries: Sequence[PartyQuery], threshold: float | None = None, top: int | None = None
    ) -> list[tuple[Hit, ...]]:
        """:meth:`search` for a batch: names not in the cache are normalised once per
        distinct name and their candidates generated together."""
        cfg = self.config
        threshold = cfg.threshold if threshold is None else threshold
        top = cfg.max_matches if top is None else top
        normalize = self.names.normalizer.normalize
        out: list[tuple[Hit, ...] | None] = [None] * len(queries)
        todo: dict[tuple, list[int]] = {}
        todo_nq: list[NormalizedName] = []
        todo_q: list[PartyQuery] = []
        normalized = [normalize(q.name) for q in queries]  # outside the lock
        with self._lock:
            for i, (query, nq) in enumerate(zip(queries, normalized, strict=True)):
                vessel = query.role == "VESSEL"
                key = (
                    nq.key,
                    nq.legal_forms,
                    query.country,
                    query.vessel_imo,
                    vessel,
                    threshold,
                    top,
                )
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    out[i] = hit
                    continue
                waiting = todo.get(key)
                if waiting is None:
                    todo[key] = [i]
                    todo_nq.append(nq)
                    todo_q.append(query)
                else:
                    waiting.append(i)
        if todo:
            present = [q.name.strip() != "" for q in todo_q]
            reject = top is not None and threshold > 0
            # below this raw score no qualifier lifts a name to the threshold; the
            # compiled core leaves such names out (unscored where it can prove it), so
            # most queries come back with nothing to look at
            floors = [
                threshold - (cfg.country_bonus if q.country else 0.0) - 1e-9 if reject else None
                for q in todo_q
            ]
            scored = self.names.native.search(
                [native_name(nq) if ok else None for nq, ok in zip(todo_nq, present, strict=True)],
                floors,
                self._limits(threshold),
            )
            results = [
                self._search(q, nq, threshold, top, found) if found or q.vessel_imo else ()
                for q, nq, found in zip(todo_q, todo_nq, scored, strict=True)
            ]
            with self._lock:
                for (key, where), result in zip(todo.items(), results, strict=True):
                    for i in where:
                        out[i] = result
                    self._cache[key] = result
                    self._cache.move_to_end(key)
                while len(self._cache) > cfg.cache_size:
                    self._cache.popitem(last=False)
        return [r if r is not None else () for r in out]

    def _limits(self, threshold: float) -> tuple:
        cfg = self.config
        return CandidateLimits(
            cfg.min_share,
            cfg.max_blocked,
            threshold - cfg.candidate_margin,
            cfg.params.coverage_blend,
            cfg.prefilter_cutoff,
            cfg.max_candidates,
            cfg.keep_by_bound,
        ).as_tuple()

    def scored_positions(self, nq: NormalizedName, threshold: float) -> list[int]:
        """Name positions fully scored for a query: blocked by the index (score bound of
        at least ``threshold - candidate_margin``), then ranked by whole-name similarity
        (the Indel ratio of the word-sorted names, ``token_sort_ratio``) so
        near-duplicates of a common name cannot crowd out the one that matches; the
        best blocking overlaps are kept too."""
        return self.names.native.scored_positions([native_name(nq)], self._limits(threshold))[0]

    def _search(
        self,
        query: PartyQuery,
        nq: NormalizedName,
        threshold: float,
        top: int,
        scored: list[tuple[int, float]],
    ) -> tuple[Hit, ...]:
        """Hits from the scored names: strength, country qualifier, threshold, the best
        name per entry; explanations only for the hits returned."""
        cfg = self.config
        # entry -> (score shown, rounded; name position, -1 for an identifier; score;
        # the country qualifier or the identifier's explanation)
        best: dict[int, tuple[float, int, float, str]] = {}
        m = _IMO_DIGITS.search(query.vessel_imo) if query.vessel_imo else None
        if m is not None:
            imo = m.group(1)
            for pos in self.imo.get(imo, ()):
                best[pos] = (1.0, -1, 1.0, imo)
        names = self.names.names
        entries = self.entries
        vessel_only = query.role == "VESSEL"
        country = query.country.upper() if query.country else None
        gate = top is not None and threshold > 0
        for npos, raw in scored:
            item = names[npos]
            entry = entries[item.entry]
            if vessel_only and entry.kind != "vessel":
                continue
            score = raw * _STRENGTH_FACTOR.get(item.strength, 1.0)
            qualifier = ""
            if country and entry.countries:
                if country in entry.countries:
                    score = min(1.0, score + cfg.country_bonus)
                    qualifier = f" country={country} agrees"
                else:
                    score -= cfg.country_penalty
                    qualifier = f" country={country} not in {'/'.join(entry.countries[:4])}"
            if score < threshold and gate:
                continue
            prev = best.get(item.entry)
            # the best name of an entry: a later name must beat the earlier one's
            # rounded score (ties keep the earlier name)
            if prev is None or score > prev[0]:
                best[item.entry] = (round(score, 4), npos, score, qualifier)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return self._explained(nq, [kv for kv in ranked[:top] if kv[1][0] >= threshold])

    def _explained(
        self, nq: NormalizedName, ranked: list[tuple[int, tuple[float, int, float, str]]]
    ) -> tuple[Hit, ...]:
        """The hits with their explanations: the aligned parts and features the compiled
        core writes for each matched name (``NameScore.explain()``'s text, one call for
        the query's hits); identifier hits explain themselves."""
        names = self.names.names
        positions = [npos for _, (_, npos, _, _) in ranked if npos >= 0]
        told = iter(self.names.native.explain(native_name(nq), positions) if positions else ())
        hits = []
        for entry, (shown, npos, score, why) in ranked:
            if npos < 0:
                hits.append(
                    Hit(entry, 1.0, f"IMO {why}", f"identifier: vessel IMO {why} equals the listed IMO")
                )
                continue
            item = names[npos]
            name = item.name
            hits.append(
                Hit(
                    entry,
                    shown,
                    name.original,
                    f"name '{name.original}' ({item.strength.lower()}) score={score:.3f}: "
                    f"{next(told)}{why}",
                )
            )
        return tuple(hits)


class WatchlistScreener:
    """Screens party names against the current :class:`ScreeningIndex`; swappable."""

    def __init__(self, index: ScreeningIndex | None = None):
        self._index = index or ScreeningIndex.empty()

    @classmethod
    def from_versions(
        cls,
        versions: Iterable[WatchlistVersion],
        normalizer: Normalizer | None = None,
        config: MatcherConfig | None = None,
    ) -> WatchlistScreener:
        return cls(ScreeningIndex(list(versions), normalizer, config))

    @property
    def index(self) -> ScreeningIndex:
        return self._index

    def swap(self, index: ScreeningIndex) -> ScreeningIndex:
        """Make ``index`` current; returns the previous one. Batches in flight finish on
        the snapshot they started with."""
        old, self._index = self._index, index
        return old

    def list_versions(self) -> dict[str, str]:
        """``{list_id: version}`` of the lists the current index was built from."""
        return dict(self._index.versions)

    def screen_parties(self, queries: Sequence[PartyQuery]) -> list[list[WatchlistMatch]]:
        """Matches at or above the threshold for each query, best first, in query order."""
        index = self._index  # one snapshot for the whole batch
        return [
            [_to_match(index, q, h) for h in hits]
            for q, hits in zip(queries, index.search_many(queries), strict=True)
        ]

    def search(
        self, name: str, top: int = 5, country: str | None = None, threshold: float = 0.0
    ) -> list[WatchlistMatch]:
        """The ``top`` best entries for one name whatever their score (for evaluation)."""
        index = self._index
        q = PartyQuery(name, country=country)
        return [_to_match(index, q, h) for h in index.search(q, threshold=threshold, top=top)]

    def screen_manifests(self, manifests: Sequence[Manifest]) -> list[list[WatchlistMatch]]:
        """Every party of every manifest, plus the vessel (by IMO and name), batched. A
        party on many manifests of the batch (a trader's every filing) is screened once,
        and its matches go to each of them (matches are never modified)."""
        distinct: dict[PartyQuery, int] = {}  # query -> its position in the screened list
        owners: list[tuple[int, int]] = []  # (manifest, query position), in manifest order
        for i, m in enumerate(manifests):
            for p in m.parties:
                q = PartyQuery(p.name, p.role, p.address.country if p.address else None)
                owners.append((i, distinct.setdefault(q, len(distinct))))
            conv = m.conveyance
            if conv is not None and (conv.vessel_imo or conv.vessel_name):
                q = PartyQuery(conv.vessel_name or "", "VESSEL", None, conv.vessel_imo)
                owners.append((i, distinct.setdefault(q, len(distinct))))
        matches = self.screen_parties(list(distinct))
        out: list[list[WatchlistMatch]] = [[] for _ in manifests]
        for i, k in owners:
            if matches[k]:
                out[i].extend(matches[k])
        return out


def _to_match(index: ScreeningIndex, q: PartyQuery, h: Hit) -> WatchlistMatch:
    e = index.entries[h.entry]
    return WatchlistMatch(
        party_role=q.role,
        party_name=q.name,
        list_id=e.list_id,
        entry_id=e.entry_id,
        matched_name=h.matched_name,
        score=h.score,
        explanation=h.explanation,
    )
