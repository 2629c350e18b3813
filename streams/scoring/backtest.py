"""Backtest a ruleset on the archive: re-score archived manifests with a candidate ruleset
and with the baseline, side by side.

The archive (``sinks/archive.py``) holds each screened manifest's contract JSON
(``manifest_json``) with the lane and score it got. Both rulesets re-score the very
same enriched manifests (trader history rebuilt by replaying the archive in screening
order; watchlist matches from the given lists, trader profiles from the given register),
so the difference between the two columns is the ruleset change alone. The archived
lanes are shown as a third column, for reference.

Officer decisions, when the archive rows carry them (a column ``outcome`` or
``decision_outcome`` with CONFIRMED / NO_FINDING / FALSE_POSITIVE), give each ruleset's
hit rate: the share of its decided RED+YELLOW selections that were CONFIRMED. Without
decisions the report gives the rule hit rate (share of manifests with any hit).

>>> report = run_backtest("var/archive", "new.yaml")  # doctest: +SKIP
>>> report.changed[:3]  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import polars as pl

from enrichers.enriched import EnrichedManifest
from schemas.model import FilingFingerprint, Manifest, ScreeningResult
from sinks.archive import scan_layouts
from streams.scoring.engine import score_batch
from streams.scoring.reference import ScoringReference
from streams.scoring.ruleset import Ruleset

LANES = ("GREEN", "BLUE", "YELLOW", "RED")
_DECISION_COLUMNS = ("outcome", "decision_outcome")


class BacktestError(ValueError):
    """The archive or a ruleset cannot be used; the message says which and why."""


@dataclass
class SideSummary:
    name: str
    ruleset_version: str
    lane_rates: dict[str, float]
    selected_rate: float
    rule_hit_rate: float | None
    mean_score: float | None
    hit_rate: float | None = None  # CONFIRMED share of decided selections
    decided: int = 0
    rule_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class BacktestReport:
    archive: str
    manifests: int
    sides: list[SideSummary]
    changed: list[dict[str, Any]]
    transitions: dict[str, int]
    plot: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "archive": self.archive,
            "manifests": self.manifests,
            "sides": [s.__dict__ for s in self.sides],
            "changed_lane": len(self.changed),
            "transitions": self.transitions,
            "plot": self.plot,
            "notes": self.notes,
        }


def read_archive(archive: str | Path, since: str | None = None, until: str | None = None) -> pl.DataFrame:
    """Archived screened rows (manifest_id, version, lane, score, manifest_json, and
    screened_at / decision columns when present), oldest first."""
    root = Path(archive)
    base = root / "screened" if (root / "screened").is_dir() else root
    files = list(base.glob("**/*.parquet"))
    if not files:
        raise BacktestError(f"no Parquet files under {base}; point --archive at the archive directory the worker writes")
    lf = scan_layouts(base)
    if lf is None:  # files, but not in the archive's date=… directories
        lf = pl.scan_parquet(base / "**" / "*.parquet", hive_partitioning=True)
    names = lf.collect_schema().names()
    missing = [c for c in ("manifest_id", "version", "manifest_json") if c not in names]
    if missing:
        raise BacktestError(f"archive {base} lacks column(s) {', '.join(missing)}")
    keep = [
        c for c in ("manifest_id", "version", "lane", "score", "ruleset_version", "manifest_json", "screened_at",
                    "date", *_DECISION_COLUMNS)
        if c in names
    ]
    lf = lf.select(keep)
    if since and "date" in names:
        lf = lf.filter(pl.col("date").cast(pl.Utf8) >= since)
    if until and "date" in names:
        lf = lf.filter(pl.col("date").cast(pl.Utf8) <= until)
    df = lf.collect().unique(["manifest_id", "version"], keep="first")
    order = [c for c in ("screened_at", "manifest_id", "version") if c in df.columns]
    return df.sort(order)


def _summary(name: str, ruleset: Ruleset, results: Sequence[ScreeningResult], outcomes: Sequence[str | None]) -> SideSummary:
    n = len(results) or 1
    lanes: Counter[str] = Counter(r.lane for r in results)
    selected = [r.lane in ("RED", "YELLOW") for r in results]
    decided = [(s, o) for s, o in zip(selected, outcomes, strict=True) if s and o]
    confirmed = sum(1 for _, o in decided if o == "CONFIRMED")
    rules = Counter(h.rule_id for r in results for h in r.hits)
    return SideSummary(
        name=name,
        ruleset_version=ruleset.version,
        lane_rates={lane: round(lanes.get(lane, 0) / n, 4) for lane in LANES},
        selected_rate=round(sum(selected) / n, 4),
        rule_hit_rate=round(sum(1 for r in results if r.hits) / n, 4),
        mean_score=round(sum(r.score for r in results) / n, 2),
        hit_rate=round(confirmed / len(decided), 4) if decided else None,
        decided=len(decided),
        rule_counts=dict(sorted(rules.items())),
    )


def run_backtest(
    archive: str | Path,
    rules: str | Path,
    baseline: str | Path,
    reference: ScoringReference,
    out: str | Path | None = None,
    screener: Any = None,
    traders: Any = None,
    batch_size: int = 5000,
    since: str | None = None,
    until: str | None = None,
) -> BacktestReport:
    """Re-score the archive with ``baseline`` and ``rules``; write ``report.json``,
    ``changes.csv`` and ``scores.png`` into ``out`` when given."""
    from enrichers.enrich import enrich_batch
    from enrichers.traders import TraderHistory, TraderRegister

    candidate = Ruleset.load(rules)
    base = Ruleset.load(baseline)
    df = read_archive(archive, since, until)
    decoder = msgspec.json.Decoder(Manifest)
    manifests = [decoder.decode(s) for s in df["manifest_json"]]
    screened_at = df["screened_at"].to_list() if "screened_at" in df.columns else [None] * df.height
    outcome_col = next((c for c in _DECISION_COLUMNS if c in df.columns), None)
    outcomes: list[str | None] = df[outcome_col].to_list() if outcome_col else [None] * df.height
    history = TraderHistory()
    register = traders or TraderRegister()
    last: dict[str, FilingFingerprint] = {}
    res_base: list[ScreeningResult] = []
    res_new: list[ScreeningResult] = []
    notes = []
    if screener is None:
        notes.append("no watchlist given: both rulesets scored without watchlist matches")
    for start in range(0, len(manifests), batch_size):
        chunk = manifests[start : start + batch_size]
        times = [t for t in screened_at[start : start + batch_size] if t is not None]
        now: datetime = max(times) if times else max(m.filed_at for m in chunk)
        enriched: list[EnrichedManifest] = enrich_batch(
            chunk, [now] * len(chunk), screener, register, history, [last.get(m.manifest_id) for m in chunk]
        )
        res_base.extend(score_batch(enriched, base, reference, now))
        res_new.extend(score_batch(enriched, candidate, reference, now))
        history.observe(chunk, now)
        for m in chunk:
            last[m.manifest_id] = FilingFingerprint.of(m)
    archived_lanes = df["lane"].to_list() if "lane" in df.columns else [None] * df.height
    changed = [
        {
            "manifest_id": b.manifest_id,
            "version": b.version,
            "archived_lane": a,
            "baseline_lane": b.lane,
            "new_lane": c.lane,
            "baseline_score": b.score,
            "new_score": c.score,
            "new_rules": ",".join(sorted({h.rule_id for h in c.hits} - {h.rule_id for h in b.hits})),
            "dropped_rules": ",".join(sorted({h.rule_id for h in b.hits} - {h.rule_id for h in c.hits})),
        }
        for a, b, c in zip(archived_lanes, res_base, res_new, strict=True)
        if b.lane != c.lane
    ]
    transitions = Counter(f"{c['baseline_lane']}->{c['new_lane']}" for c in changed)
    sides = [_summary("baseline", base, res_base, outcomes), _summary("candidate", candidate, res_new, outcomes)]
    if "lane" in df.columns:
        n = df.height or 1
        counts: Counter[str] = Counter(str(x) for x in archived_lanes)
        versions = sorted(str(v) for v in df["ruleset_version"].unique()) if "ruleset_version" in df.columns else []
        sides.insert(0, SideSummary(
            name="archived",
            ruleset_version=",".join(versions) or "as screened",
            lane_rates={lane: round(counts.get(lane, 0) / n, 4) for lane in LANES},
            selected_rate=round((counts.get("RED", 0) + counts.get("YELLOW", 0)) / n, 4),
            rule_hit_rate=None,
            mean_score=round(float(df["score"].cast(pl.Float64).mean() or 0.0), 2) if "score" in df.columns else None,  # type: ignore[arg-type]
        ))
    report = BacktestReport(
        archive=str(archive), manifests=len(manifests), sides=sides, changed=changed,
        transitions=dict(transitions.most_common()), notes=notes,
    )
    if out is not None:
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(changed, schema={
            "manifest_id": pl.Utf8, "version": pl.Int64, "archived_lane": pl.Utf8, "baseline_lane": pl.Utf8,
            "new_lane": pl.Utf8, "baseline_score": pl.Float64, "new_score": pl.Float64,
            "new_rules": pl.Utf8, "dropped_rules": pl.Utf8,
        }).write_csv(out_dir / "changes.csv")
        report.plot = str(plot_scores(
            {f"baseline {base.version}": [r.score for r in res_base],
             f"candidate {candidate.version}": [r.score for r in res_new],
             **({"archived": df["score"].to_list()} if "score" in df.columns else {})},
            base, candidate, out_dir / "scores.png",
        ))
        (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return report


def plot_scores(series: dict[str, list[float]], base: Ruleset, candidate: Ruleset, path: Path) -> Path:
    """Histogram of score distributions per ruleset, with each one's lane thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    bins = list(range(0, 102, 2))
    for name, scores in series.items():
        ax.hist(scores, bins=bins, histtype="step", linewidth=1.6, label=f"{name} (n={len(scores)})")
    for rs, style in ((base, ":"), (candidate, "--")):
        thresholds: dict[str, float] = {str(k): v for k, v in rs.spec.lanes.thresholds.items()}
        for lane, color in (("YELLOW", "goldenrod"), ("RED", "firebrick")):
            ax.axvline(thresholds.get(lane, 0.0), color=color, linestyle=style, linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("risk score (0-100)")
    ax.set_ylabel("manifests (log scale)")
    ax.set_title(f"Score distributions: {base.version} (dotted thresholds) vs {candidate.version} (dashed)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
