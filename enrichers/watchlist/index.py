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

>>> idx = NameIndex.build([("L", "1", "person", "Eric Badege")])  # doctest: +SKIP
>>> idx.candidates(idx.normalizer.normalize("Eric Badge"))  # doctest: +SKIP
[0]
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from enrichers.watchlist.normalize import NormalizedName, Normalizer, skeleton
from enrichers.watchlist.scoring import TokenStats

#: Tokens this short are only matched exactly (their deletions match everything).
MIN_FUZZY_LEN = 4
#: Tokens this long also reach list tokens two edits away.
MIN_DOUBLE_EDIT_LEN = 7
#: Query tokens whose variant postings are kept (cleared whole when full).
VARIANT_CACHE_SIZE = 50_000


def deletions(token: str) -> list[str]:
    """The token with each single letter removed.

    >>> deletions("abc")
    ['bc', 'ac', 'ab']
    """
    return [token[:i] + token[i + 1 :] for i in range(len(token))]


def sorted_key(name: NormalizedName) -> str:
    """The normalised name with its words in sorted order.

    >>> sorted_key(Normalizer.default().normalize("Smith, John"))
    'john smith'
    """
    return " ".join(sorted(name.tokens))


@dataclass(frozen=True, slots=True)
class IndexedName:
    """One indexed name: which entry (position in the index's entry table) it belongs to."""

    entry: int
    name: NormalizedName
    strength: str


class NameIndex:
    """Inverted index from blocking keys to name positions. Build with :meth:`build`."""

    def __init__(self, normalizer: Normalizer):
        self.normalizer = normalizer
        self.names: list[IndexedName] = []
        # normalised names with their words sorted, by position: rapidfuzz's plain ratio
        # on these is token_sort_ratio without re-splitting every candidate per query
        self.sorted_keys: np.ndarray = np.zeros(0, dtype=object)
        self.key_lengths: np.ndarray = np.zeros(0, dtype=np.int32)
        self.stats = TokenStats()
        self._vocab: dict[str, int] = {}
        self._postings: list[array] = []
        self._deletes: dict[str, array] = {}
        self._skeletons: dict[str, array] = {}
        self._joined: dict[str, array] = {}
        self._name_weight_np: np.ndarray = np.zeros(0, dtype=np.float32)
        self._post_off: np.ndarray = np.zeros(1, dtype=np.int64)
        self._post_data: np.ndarray = np.zeros(0, dtype=np.int32)
        self._tokens: list[str] = []
        # query token -> its variants' postings (sorted, unique): traffic repeats tokens
        # (first names, surnames, "trading", "gmbh") far more than whole names
        self._variant_postings: dict[tuple[str, bool], np.ndarray | None] = {}

    # -- building -------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        names: Iterable[tuple[int, str, str]],
        normalizer: Normalizer | None = None,
    ) -> NameIndex:
        """Index ``(entry position, name, strength)`` triples."""
        idx = cls(normalizer or Normalizer.default())
        norm = idx.normalizer.normalize
        vocab = idx._vocab
        postings = idx._postings
        joined: dict[str, array] = {}
        for entry, text, strength in names:
            nn = norm(text)
            pos = len(idx.names)
            idx.names.append(IndexedName(entry, nn, strength))
            for tok in set(nn.tokens):
                tid = vocab.get(tok)
                if tid is None:
                    tid = vocab[tok] = len(postings)
                    postings.append(array("i"))
                postings[tid].append(pos)
            words = nn.tokens
            if len(words) > 1:
                for a, b in zip(words, words[1:], strict=False):
                    joined.setdefault(a + b, array("i")).append(pos)
            if nn.joined and nn.joined != nn.compact:
                joined.setdefault(nn.joined, array("i")).append(pos)
        idx._joined = joined
        idx._tokens = list(vocab)
        idx.sorted_keys = np.array([sorted_key(n.name) for n in idx.names], dtype=object)
        idx.key_lengths = np.fromiter(
            (len(k) for k in idx.sorted_keys), dtype=np.int32, count=len(idx.sorted_keys)
        )
        df = {tok: len(postings[tid]) for tok, tid in vocab.items()}
        idx.stats = TokenStats(df, len(idx.names))
        weight = idx.stats.weight
        name_weight = np.fromiter(
            (sum(weight(t) for t in n.name.tokens) for n in idx.names),
            dtype=np.float32,
            count=len(idx.names),
        )
        idx._name_weight_np = np.where(name_weight > 0, name_weight, 1.0).astype(np.float32)
        # postings as one CSR array: slices are views, no per-token Python objects
        lengths = np.fromiter((len(p) for p in postings), dtype=np.int64, count=len(postings))
        idx._post_off = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        idx._post_data = (
            np.concatenate([np.frombuffer(p, dtype=np.int32) for p in postings])
            if postings
            else np.zeros(0, dtype=np.int32)
        )
        idx._postings = []
        deletes: dict[str, array] = {}
        skeletons: dict[str, array] = {}
        for tok, tid in vocab.items():
            if len(tok) >= MIN_FUZZY_LEN and not tok.isdigit():
                for d in set(deletions(tok)):
                    deletes.setdefault(d, array("i")).append(tid)
            if tok.isalpha() and len(tok) >= 2:
                skeletons.setdefault(skeleton(tok), array("i")).append(tid)
        idx._deletes = deletes
        idx._skeletons = skeletons
        return idx

    def __len__(self) -> int:
        return len(self.names)

    # -- querying -------------------------------------------------------------------

    def token_variants(self, token: str, abjad: bool = False) -> set[int]:
        """Vocabulary ids of list tokens within one edit of ``token`` (or sharing its
        consonant skeleton when the query is in an abjad script)."""
        out: set[int] = set()
        tid = self._vocab.get(token)
        if tid is not None:
            out.add(tid)
        if len(token) >= MIN_FUZZY_LEN and not token.isdigit():
            hit = self._deletes.get(token)
            if hit is not None:
                out.update(hit)  # list tokens one letter longer
            vocab = self._vocab
            deletes = self._deletes
            first = set(deletions(token))
            for d in first:
                t = vocab.get(d)
                if t is not None:
                    out.add(t)  # list tokens one letter shorter
                hit = deletes.get(d)
                if hit is not None:
                    out.update(hit)  # substitutions and transpositions
            if len(token) >= MIN_DOUBLE_EDIT_LEN:
                # long names carry two defects as often as one (Nikollai/Nikolay); two
                # deletions in either order are one key, looked up once
                for dd in {d[:i] + d[i + 1 :] for d in first for i in range(len(d))}:
                    hit = deletes.get(dd)
                    if hit is not None:
                        out.update(hit)
        if abjad and token.isalpha():
            hit = self._skeletons.get(skeleton(token))
            if hit is not None:
                out.update(hit)
        return out

    def variant_postings(self, token: str, abjad: bool = False) -> np.ndarray | None:
        """Name positions (sorted, unique) carrying a variant of ``token`` (memoised)."""
        key = (token, abjad)
        cache = self._variant_postings
        if key in cache:
            return cache[key]
        tids = self.token_variants(token, abjad)
        arr: np.ndarray | None
        if not tids:
            arr = None
        elif len(tids) == 1:
            arr = self._posting(next(iter(tids)))
        else:
            arr = np.unique(np.concatenate([self._posting(t) for t in tids]))
        if len(cache) >= VARIANT_CACHE_SIZE:
            cache.clear()
        cache[key] = arr
        return arr

    def clear_caches(self) -> None:
        """Forget memoised token postings (the benchmark measures from cold)."""
        self._variant_postings.clear()

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
        optimistic score bound of at least ``min_score``."""
        return self.candidates_batch([query], min_share, max_candidates, min_score, coverage_blend)[
            0
        ]

    def _blocking_chunks(
        self, query: NormalizedName, min_share: float
    ) -> tuple[float, list[tuple[np.ndarray, float, bool]]]:
        """The query's total token weight and its blocking postings: ``(positions, weight,
        opening)``; closing postings (common tokens after prefix filtering) only add weight
        to names an opening posting found."""
        toks = query.tokens
        if not toks:
            return 0.0, []
        abjad = query.script == "abjad"
        weight = self.stats.weight
        weighted = sorted({t: weight(t) for t in toks}.items(), key=lambda kv: -kv[1])
        total = sum(w for _, w in weighted)
        chunks: list[tuple[np.ndarray, float, bool]] = []
        # run-together spellings, both ways ("siemensag", "xi jin ping")
        wmap = dict(weighted)
        if query.joined:
            hit = self._joined.get(query.joined)
            if hit is not None:
                chunks.append((np.frombuffer(hit, dtype=np.int32), total, True))
        for a, b in zip(toks, toks[1:], strict=False):
            tid = self._vocab.get(a + b)
            if tid is not None:
                chunks.append((self._posting(tid), wmap[a] + wmap[b], True))
        for tok, w in weighted:
            if len(tok) >= MIN_FUZZY_LEN:
                hit = self._joined.get(tok)
                if hit is not None:
                    chunks.append((np.frombuffer(hit, dtype=np.int32), w, True))
        # Prefix filtering: rare tokens first; once the weight still to come cannot lift
        # a new name to the floor, common tokens only add to names already found.
        floor = min_share * total
        remaining = total
        for tok, w in weighted:
            opening = remaining >= floor
            remaining -= w
            if len(tok) == 1 and not tok.isdigit():
                continue  # an initial alone never makes a candidate
            arr = self.variant_postings(tok, abjad)
            if arr is not None:
                chunks.append((arr, w, opening))
        return total, chunks

    def candidates_batch(
        self,
        queries: Sequence[NormalizedName],
        min_share: float = 0.3,
        max_candidates: int = 40,
        min_score: float = 0.0,
        coverage_blend: float = 0.4,
    ) -> list[list[int]]:
        """:meth:`candidates` for many queries at once: the postings of the whole batch
        are merged and bounded in a few array operations (numpy's per-call overhead,
        not the arithmetic, is what one query at a time costs)."""
        return [
            a.tolist()
            for a in self.candidate_arrays(
                queries, min_share, max_candidates, min_score, coverage_blend
            )
        ]

    def candidate_arrays(
        self,
        queries: Sequence[NormalizedName],
        min_share: float = 0.3,
        max_candidates: int = 40,
        min_score: float = 0.0,
        coverage_blend: float = 0.4,
    ) -> list[np.ndarray]:
        """:meth:`candidates_batch` as arrays of name positions."""
        n_names = max(len(self.names), 1)
        arrays: list[np.ndarray] = []
        chunk_w: list[float] = []
        chunk_open: list[bool] = []
        chunk_q: list[int] = []
        totals = np.zeros(len(queries), dtype=np.float64)
        for qi, query in enumerate(queries):
            total, chunks = self._blocking_chunks(query, min_share)
            if not any(opening for _, _, opening in chunks):
                continue
            totals[qi] = total
            for arr, w, opening in chunks:
                arrays.append(arr)
                chunk_w.append(w)
                chunk_open.append(opening)
                chunk_q.append(qi)
        none = np.zeros(0, dtype=np.int64)
        out: list[np.ndarray] = [none] * len(queries)
        if not arrays:
            return out
        # One sort of (query, name, chunk) packed in an int64 groups every name's chunks
        # in chunk order (the sums come out as a bincount over the chunks would give).
        chunk_bits = max(1, (len(arrays) - 1).bit_length())
        if (len(queries) * n_names).bit_length() + chunk_bits > 62:
            half = len(queries) // 2
            return self.candidate_arrays(
                queries[:half], min_share, max_candidates, min_score, coverage_blend
            ) + self.candidate_arrays(
                queries[half:], min_share, max_candidates, min_score, coverage_blend
            )
        sizes = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
        packed = np.concatenate(arrays).astype(np.int64)
        packed += np.repeat(np.asarray(chunk_q, dtype=np.int64) * n_names, sizes)
        packed <<= chunk_bits
        packed |= np.repeat(np.arange(len(arrays), dtype=np.int64), sizes)
        packed.sort()
        chunk = packed & ((1 << chunk_bits) - 1)
        packed >>= chunk_bits
        first = np.empty(len(packed), dtype=bool)
        first[0] = True
        np.not_equal(packed[1:], packed[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        uniq = packed[starts]
        shared = np.add.reduceat(np.asarray(chunk_w)[chunk], starts)
        opened = np.logical_or.reduceat(np.asarray(chunk_open)[chunk], starts)
        qidx = uniq // n_names
        query_total = totals[qidx]
        # Keep names whose best possible score (all shared weight aligned perfectly)
        # can reach ``min_score``: most non-matching names stop here, unscored.
        keep = np.flatnonzero(opened & (shared >= min_share * query_total))
        if not len(keep):
            return out
        qidx, query_total, shared = qidx[keep], query_total[keep], shared[keep]
        pos = uniq[keep] - qidx * n_names
        wn = self._name_weight_np[pos].astype(np.float64)
        shared_n = np.minimum(shared, wn)
        coverage = np.minimum(1.0, shared_n / np.minimum(query_total, wn))
        overlap = np.minimum(1.0, 2 * shared_n / (query_total + wn))
        bound = coverage_blend * coverage + (1 - coverage_blend) * overlap
        # No substitution penalty here: parts not shared by blocking keys (two or more
        # edits apart) may still align in scoring, so the bound stays optimistic.
        sel = np.flatnonzero(bound >= min_score)
        # already grouped by query and ordered by position: a stable sort by bound within
        # each query's run ranks best bound first, ties by position
        ranked_q, ranked_pos, ranked_bound = qidx[sel], pos[sel], -bound[sel]
        starts = np.searchsorted(ranked_q, np.arange(len(queries) + 1)).tolist()
        for qi in range(len(queries)):
            a, b = starts[qi], starts[qi + 1]
            if b > a:
                order = np.argsort(ranked_bound[a:b], kind="stable")[:max_candidates]
                out[qi] = ranked_pos[a:b][order]
        return out

    def _posting(self, tid: int) -> np.ndarray:
        off = self._post_off
        return self._post_data[off[tid] : off[tid + 1]]

    def memory_keys(self) -> dict[str, int]:
        """Sizes of the index tables (for the benchmark report)."""
        return {
            "names": len(self.names),
            "tokens": len(self._vocab),
            "deletion_keys": len(self._deletes),
            "skeleton_keys": len(self._skeletons),
            "joined_keys": len(self._joined),
        }
