"""The candidate index: which list names are worth scoring for a party name.

Scoring every list name is far too slow (300,000 names per party), so candidates come
from blocking keys, each weighted by the rarity of the query token that produced it:

- exact tokens (``badege``);
- the one-deletion neighbourhood of every token of 4+ letters (SymSpell-style:
  ``badge`` and ``badeg`` both reach ``badege``), which catches one typo, one missing or
  extra letter and one transposition;
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
from collections.abc import Iterable
from dataclasses import dataclass

from enrichers.watchlist.normalize import NormalizedName, Normalizer, skeleton
from enrichers.watchlist.scoring import TokenStats

#: Tokens this short are only matched exactly (their deletions match everything).
MIN_FUZZY_LEN = 4


def deletions(token: str) -> list[str]:
    """The token with each single letter removed.

    >>> deletions("abc")
    ['bc', 'ac', 'ab']
    """
    return [token[:i] + token[i + 1 :] for i in range(len(token))]


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
        self.stats = TokenStats()
        self._vocab: dict[str, int] = {}
        self._postings: list[array] = []
        self._deletes: dict[str, array] = {}
        self._skeletons: dict[str, array] = {}
        self._joined: dict[str, array] = {}

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
        df = {tok: len(postings[tid]) for tok, tid in vocab.items()}
        idx.stats = TokenStats(df, len(idx.names))
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
            for d in deletions(token):
                t = vocab.get(d)
                if t is not None:
                    out.add(t)  # list tokens one letter shorter
                hit = deletes.get(d)
                if hit is not None:
                    out.update(hit)  # substitutions and transpositions
        if abjad and token.isalpha():
            hit = self._skeletons.get(skeleton(token))
            if hit is not None:
                out.update(hit)
        return out

    def candidates(
        self, query: NormalizedName, min_share: float = 0.3, max_candidates: int = 40
    ) -> list[int]:
        """Name positions worth scoring for ``query``, best blocking overlap first."""
        toks = query.tokens
        if not toks:
            return []
        abjad = query.script == "abjad"
        weight = self.stats.weight
        acc: dict[int, float] = {}
        total = 0.0
        postings = self._postings
        seen: set[str] = set()
        for tok in toks:
            if tok in seen:
                continue
            seen.add(tok)
            w = weight(tok)
            total += w
            if len(tok) == 1:
                continue  # an initial alone never makes a candidate
            tids = self.token_variants(tok, abjad)
            if len(tids) == 1:
                for pos in postings[next(iter(tids))]:
                    acc[pos] = acc.get(pos, 0.0) + w
            elif tids:
                hit_names: set[int] = set()
                for tid in tids:
                    hit_names.update(postings[tid])
                for pos in hit_names:
                    acc[pos] = acc.get(pos, 0.0) + w
        # run-together spellings, both ways
        joined_keys = [query.joined] if query.joined else []
        joined_keys += [a + b for a, b in zip(toks, toks[1:], strict=False)]
        for key in joined_keys:
            for pos in self._joined.get(key, ()):
                acc[pos] = acc.get(pos, 0.0) + total
            tid = self._vocab.get(key)
            if tid is not None:
                for pos in postings[tid]:
                    acc[pos] = acc.get(pos, 0.0) + total * 0.5
        if not acc:
            return []
        floor = min_share * total
        hits = [(s, pos) for pos, s in acc.items() if s >= floor]
        if len(hits) > max_candidates:
            hits.sort(reverse=True)
            hits = hits[:max_candidates]
        return [pos for _, pos in hits]

    def memory_keys(self) -> dict[str, int]:
        """Sizes of the index tables (for the benchmark report)."""
        return {
            "names": len(self.names),
            "tokens": len(self._vocab),
            "deletion_keys": len(self._deletes),
            "skeleton_keys": len(self._skeletons),
            "joined_keys": len(self._joined),
        }
