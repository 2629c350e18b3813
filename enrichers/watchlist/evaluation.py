"""Matcher quality on the labelled sets in the reference-data directory (``matching/``).

Figures, all at the one fixed threshold :data:`~enrichers.watchlist.matcher.MATCH_THRESHOLD`:

- nomenklatura name cases (826 labelled pairs): precision, recall, F1 and misses of
  STRONG-quality matches, beside OpenSanctions logic-v2's own frozen run;
- yente treated UN positives: with the UN list loaded, is the right UN entry in the top 5?
  (the right entry is the one whose name is the untreated spelling of the same row);
- yente synthetic negatives (global and US, 50,000 each): share of names that raise an
  alert (any match at the threshold) against the UN list (and, on a sample, against
  UN + OFAC 2021 for information);
- Watchman cross-script pairs: share scored at or above the threshold.

Token rarity (IDF) comes from the index of the reference lists (OFAC 2021 + UN), as it
would in production.

>>> report = run_quality_eval("../shared/data", negatives_sample=2000)  # doctest: +SKIP
>>> report.nomenklatura.f1  # doctest: +SKIP
0.848
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from enrichers.watchlist.loaders import WatchlistVersion, country_code, load_watchlist
from enrichers.watchlist.matcher import MATCH_THRESHOLD, PartyQuery, WatchlistScreener
from enrichers.watchlist.normalize import Normalizer
from enrichers.watchlist.scoring import score_names

UN_FILE = "sanctions/un/UN_consolidated_2026-02-27.xml"
OFAC_DIR = "sanctions/ofac_full_2021"
NEGATIVE_FILES = ("yente_negatives_global.csv", "yente_negatives_us.csv")


@dataclass
class PairFigures:
    pairs: int
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    f1: float
    strong_misses: int
    logicv2_f1: float | None = None
    logicv2_threshold: float | None = None


@dataclass
class TopKFigures:
    queries: int
    found: int
    rate: float
    unresolved: int = 0
    misses: list[str] = field(default_factory=list)


@dataclass
class NegativeFigures:
    file: str
    queries: int
    alerts: int
    rate: float
    seconds: float
    examples: list[str] = field(default_factory=list)


@dataclass
class CrossScriptFigures:
    pairs: int
    matched: int
    share: float
    by_script: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class QualityReport:
    threshold: float
    nomenklatura: PairFigures
    yente_top5: TopKFigures
    negatives: list[NegativeFigures]
    cross_script: CrossScriptFigures
    list_versions: dict[str, str]
    seconds: float
    #: the same negatives against UN + OFAC 2021 (a sample; the target is set on UN)
    negatives_ofac_un: list[NegativeFigures] = field(default_factory=list)

    @property
    def negatives_rate(self) -> float:
        q = sum(n.queries for n in self.negatives)
        return sum(n.alerts for n in self.negatives) / q if q else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["negatives_rate"] = self.negatives_rate
        return d


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def evaluate_name_cases(
    refdata: Path, screener: WatchlistScreener, threshold: float = MATCH_THRESHOLD
) -> PairFigures:
    """Score every nomenklatura case pair; F1 at ``threshold``."""
    matching = refdata / "matching"
    norm = screener.index.names.normalizer
    stats = screener.index.names.stats
    params = screener.index.config.params
    tp = fp = fn = tn = strong_misses = 0
    with (matching / "nomenklatura_name_cases.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        s = score_names(norm.normalize(row["name1"]), norm.normalize(row["name2"]), stats, params)
        predicted = s.score >= threshold
        actual = row["is_match"].strip().lower() == "true"
        if predicted and actual:
            tp += 1
        elif predicted:
            fp += 1
        elif actual:
            fn += 1
            strong_misses += row["quality"] == "STRONG"
        else:
            tn += 1
    p, r, f1 = _f1(tp, fp, fn)
    figures = PairFigures(
        len(rows), threshold, tp, fp, fn, tn, round(p, 4), round(r, 4), round(f1, 4), strong_misses
    )
    frozen = matching / "nomenklatura_logicv2_frozen_run.csv"
    if frozen.is_file():
        with frozen.open(encoding="utf-8") as fh:
            outcomes = [r["outcome"] for r in csv.DictReader(fh)]
        _, _, lf1 = _f1(outcomes.count("TP"), outcomes.count("FP"), outcomes.count("FN"))
        figures.logicv2_f1, figures.logicv2_threshold = round(lf1, 4), 0.70
    return figures


def evaluate_un_positives(
    refdata: Path, screener: WatchlistScreener, un: WatchlistVersion, k: int = 5
) -> TopKFigures:
    """Top-``k`` rate of the right UN entry for the treated yente UN positives."""
    matching = refdata / "matching"
    norm: Normalizer = screener.index.names.normalizer
    by_name: dict[str, set[str]] = {}
    for e in un.entries:
        for n in e.names:
            by_name.setdefault(norm.normalize(n.name).key, set()).add(e.entry_id)
    with (matching / "yente_positives_un_untreated.csv").open(encoding="utf-8") as fh:
        untreated = list(csv.DictReader(fh))
    with (matching / "yente_positives_un_treated.csv").open(encoding="utf-8") as fh:
        treated = list(csv.DictReader(fh))
    found = total = unresolved = 0
    misses: list[str] = []
    for u, t in zip(untreated, treated, strict=True):
        want = by_name.get(norm.normalize(u["full_name"]).key)
        if not want:
            unresolved += 1  # the untreated spelling is no UN name: no ground truth
            continue
        total += 1
        country = country_code(t["nationality"]) if t.get("nationality") else None
        got = {
            m.entry_id
            for m in screener.search(t["full_name"], top=k, country=country)
            if m.list_id == un.list_id
        }
        if want & got:
            found += 1
        elif len(misses) < 20:
            misses.append(t["full_name"])
    return TopKFigures(total, found, round(found / total, 4) if total else 0.0, unresolved, misses)


def evaluate_negatives(
    refdata: Path, screener: WatchlistScreener, sample: int | None = None, seed: int = 7
) -> list[NegativeFigures]:
    """Alert rate on the synthetic negatives (every alert is a false positive)."""
    out: list[NegativeFigures] = []
    for name in NEGATIVE_FILES:
        with (refdata / "matching" / name).open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if sample and sample < len(rows):
            rows = random.Random(seed).sample(rows, sample)
        queries = [
            PartyQuery(
                r["full_name"],
                "CONSIGNEE",
                country_code(r["nationality"]) if r.get("nationality") else None,
            )
            for r in rows
        ]
        t0 = time.perf_counter()
        results: list = []
        for i in range(0, len(queries), 2000):
            results.extend(screener.screen_parties(queries[i : i + 2000]))
        seconds = time.perf_counter() - t0
        alerts = [(q, r[0]) for q, r in zip(queries, results, strict=True) if r]
        examples = [f"{q.name} ~ {m.matched_name} ({m.score:.2f})" for q, m in alerts[:10]]
        out.append(
            NegativeFigures(
                name,
                len(queries),
                len(alerts),
                round(len(alerts) / len(queries), 5),
                round(seconds, 2),
                examples,
            )
        )
    return out


def evaluate_cross_script(
    refdata: Path, screener: WatchlistScreener, threshold: float = MATCH_THRESHOLD
) -> CrossScriptFigures:
    """Share of Watchman's cross-script pairs scored at or above ``threshold``."""
    norm = screener.index.names.normalizer
    stats = screener.index.names.stats
    params = screener.index.config.params
    pairs = matched = 0
    by_script: dict[str, list[int]] = {}
    section = "other"
    for raw in (
        (refdata / "matching" / "watchman_cross_script_pairs.csv")
        .read_text(encoding="utf-8")
        .splitlines()
    ):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if " to Latin" in line:
                section = line.lstrip("# ").split(" to Latin")[0].split(" (")[0]
            continue
        parts = next(csv.reader([line]))
        if len(parts) < 2:
            continue
        s = score_names(norm.normalize(parts[0]), norm.normalize(parts[1]), stats, params)
        pairs += 1
        ok = s.score >= threshold
        matched += ok
        tally = by_script.setdefault(section, [0, 0])
        tally[0] += ok
        tally[1] += 1
    return CrossScriptFigures(
        pairs,
        matched,
        round(matched / pairs, 4) if pairs else 0.0,
        {k: (v[0], v[1]) for k, v in by_script.items()},
    )


def run_quality_eval(
    refdata: str | Path,
    negatives_sample: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> QualityReport:
    """All quality figures; ``negatives_sample`` screens a sample of each negatives file
    instead of all 50,000 (for quick runs)."""
    say = progress or (lambda _msg: None)
    root = Path(refdata)
    t0 = time.perf_counter()
    say("loading the UN and OFAC lists")
    normalizer = Normalizer.default(root)
    un = load_watchlist(root / UN_FILE)
    ofac = load_watchlist(root / OFAC_DIR)
    reference = WatchlistScreener.from_versions([un, ofac], normalizer)
    un_only = WatchlistScreener.from_versions([un], normalizer)
    say("nomenklatura name cases")
    cases = evaluate_name_cases(root, reference)
    say("yente UN positives (top 5)")
    top5 = evaluate_un_positives(root, un_only, un)
    say("yente negatives against the UN list")
    negatives = evaluate_negatives(root, un_only, negatives_sample)
    say("yente negatives against UN + OFAC (sample)")
    negatives_wide = evaluate_negatives(root, reference, min(negatives_sample or 5000, 5000))
    say("watchman cross-script pairs")
    cross = evaluate_cross_script(root, reference)
    return QualityReport(
        MATCH_THRESHOLD,
        cases,
        top5,
        negatives,
        cross,
        reference.list_versions(),
        round(time.perf_counter() - t0, 1),
        negatives_wide,
    )
