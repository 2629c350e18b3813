"""Detection quality on the generator's labelled traffic.

Generated manifests go through the same screening core as the stream
(:func:`streams.screening.screen_batch`: validation, enrichment with the generator's
watchlist and trader register, scoring, history); the results are compared with the
labels of the planted risks:

- per rule id: precision (of the manifests where the rule fired, the share planted with
  that risk) and recall (of the manifests planted with it, the share where it fired);
- the share of planted high-risk manifests selected when RED+YELLOW is held at a given
  rate (5%): manifests are ranked by lane (RED, YELLOW, then the rest) and score, the
  top 5% are "selected".

>>> report = evaluate(count=20_000, seed=1)  # doctest: +SKIP
>>> report.selected_share  # doctest: +SKIP
0.93
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from schemas.model import Rejection, ScreeningResult, Source, ValidationError, manifest_from_dict

# Security and safety risks an officer must not miss; the selection target applies to these.
HIGH_RISK: frozenset[str] = frozenset({"WATCHLIST_PARTY", "EMBARGO_ROUTE", "DUAL_USE_GOODS"})


@dataclass
class RuleQuality:
    rule_id: str
    planted: int = 0
    fired: int = 0
    true_positive: int = 0

    @property
    def precision(self) -> float | None:
        return self.true_positive / self.fired if self.fired else None

    @property
    def recall(self) -> float | None:
        return self.true_positive / self.planted if self.planted else None


@dataclass
class QualityReport:
    count: int
    seed: int
    screened: int
    rejected: int
    selection_rate: float
    high_risk: list[str]
    high_risk_manifests: int
    selected_high_risk: int
    lane_rates: dict[str, float]
    referrals: dict[str, int]
    rules: dict[str, RuleQuality] = field(default_factory=dict)
    watchlist: str = ""
    ruleset_version: str = ""
    risk_scale: float = 1.0
    notes: list[str] = field(default_factory=list)

    @property
    def selected_share(self) -> float:
        return self.selected_high_risk / self.high_risk_manifests if self.high_risk_manifests else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "seed": self.seed,
            "risk_scale": self.risk_scale,
            "ruleset_version": self.ruleset_version,
            "watchlist": self.watchlist,
            "screened": self.screened,
            "rejected": self.rejected,
            "lane_rates": self.lane_rates,
            "referrals": self.referrals,
            "selection_rate": self.selection_rate,
            "high_risk": self.high_risk,
            "high_risk_manifests": self.high_risk_manifests,
            "selected_high_risk": self.selected_high_risk,
            "selected_share": round(self.selected_share, 4),
            "rules": {
                k: {"planted": r.planted, "fired": r.fired, "true_positive": r.true_positive,
                    "precision": None if r.precision is None else round(r.precision, 4),
                    "recall": None if r.recall is None else round(r.recall, 4)}
                for k, r in sorted(self.rules.items())
            },
            "notes": self.notes,
        }


def _inbound(records: Iterable[tuple[dict, Any]], start: int) -> Iterator[Any]:
    from streams.screening import Inbound

    received = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    for k, (raw, _label) in enumerate(records):
        index = start + k
        source = Source(kind="file", file="generated", line=index + 1)
        try:
            item: Any = manifest_from_dict(raw)
            received = item.filed_at
        except (msgspec.ValidationError, TypeError, ValueError) as exc:
            # unreadable: keep the previous record's time
            item = Rejection(
                manifest_id=raw.get("manifest_id") if isinstance(raw.get("manifest_id"), str) else None,
                version=raw.get("version") if isinstance(raw.get("version"), int) else None,
                errors=[ValidationError("SCHEMA", "$", str(exc))],
                received_at=received,
                source=source,
            )
        yield Inbound(index=index, item=item, received_at=received, source=source)


def select_at_rate(results: list[ScreeningResult], rate: float) -> set[tuple[str, int]]:
    """The ``rate`` share of results an officer would see if RED+YELLOW were held at that
    rate: RED first, then YELLOW, then by score."""
    order = {"RED": 2, "YELLOW": 1}
    ranked = sorted(results, key=lambda r: (order.get(r.lane, 0), r.score), reverse=True)
    k = round(rate * len(results))
    return {(r.manifest_id, r.version) for r in ranked[:k]}


def evaluate(
    count: int = 20_000,
    seed: int = 1,
    rules: str | Path | None = None,
    settings: Any = None,
    selection_rate: float = 0.05,
    risk_scale: float = 0.25,
    batch_size: int = 2000,
    progress: Any = None,
) -> QualityReport:
    """Generate, screen through the core, and compare with the labels.

    ``risk_scale`` multiplies the generator's planted-risk rates: its defaults plant a
    risk in about a third of the manifests (for a lively demo), far above the few percent
    of real traffic a 5% selection rate is meant for.
    """
    from cargowatch.generator.config import GeneratorConfig, RiskRates
    from cargowatch.generator.engine import ManifestGenerator
    from cargowatch.settings import Settings
    from enrichers.refdata import ReferenceData
    from streams.context import build_context
    from streams.screening import screen_batch

    settings = settings or Settings.load()
    ref = ReferenceData.load(settings.refdata)
    base = RiskRates()
    scaled = base.replace(**{
        name: getattr(base, name) * risk_scale
        for name in ("watchlist", "embargo_route", "dual_use", "undervaluation", "description_mismatch",
                     "new_trader", "late_filing", "weight_anomaly", "late_amendment")
    })
    config = GeneratorConfig(rates=scaled)
    generator = ManifestGenerator(ref, config, seed)
    watchlist = _default_watchlist(settings.refdata)
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        register = Path(tmp) / "traders.jsonl"
        register.write_bytes(b"\n".join(msgspec.json.encode(r) for r in generator.register()) + b"\n")
        ctx = build_context(
            settings,
            watchlists=[(watchlist, None)] if watchlist else (),
            traders=register,
            rules=rules,
        )
    if not watchlist:
        notes.append("no watchlist file found: scored without watchlist matches")
    labels: dict[tuple[str, int], list[str]] = {}
    results: list[ScreeningResult] = []
    rejected = 0
    records = generator.records(count)
    done = 0
    while done < count:
        chunk = []
        for rec in records:
            chunk.append(rec)
            if len(chunk) >= batch_size:
                break
        if not chunk:
            break
        for _raw, label in chunk:
            if label.valid and not label.replay:
                labels[(label.manifest_id, label.version)] = list(label.risks)
        inbound = list(_inbound(chunk, done))
        # The simulated clock: the latest filing time of a valid record in the chunk (late
        # amendments are filed days after the originals around them; a planted far-future
        # filing date of an invalid record must not move the clock).
        valid_times = [
            i.received_at for i, (_raw, label) in zip(inbound, chunk, strict=True)
            if label.valid and hasattr(i.item, "filed_at")
        ]
        now = max(valid_times) if valid_times else max(i.received_at for i in inbound)
        outcome = screen_batch(inbound, ctx, now)
        results.extend(r for _, r in outcome.results)
        rejected += len(outcome.rejections)
        done += len(chunk)
        if progress:
            progress(done)
    by_key = {(r.manifest_id, r.version): r for r in results}
    scored = [r for k, r in by_key.items() if k in labels]
    selected = select_at_rate(scored, selection_rate)
    high = [k for k, risks in labels.items() if HIGH_RISK & set(risks) and k in by_key]
    quality: dict[str, RuleQuality] = {}
    for key, r in by_key.items():
        planted = set(labels.get(key, ()))
        fired = {h.rule_id for h in r.hits}
        for rid in planted | fired:
            q = quality.setdefault(rid, RuleQuality(rid))
            q.planted += rid in planted
            q.fired += rid in fired
            q.true_positive += rid in planted and rid in fired
    lanes = Counter(r.lane for r in scored)
    total = len(scored) or 1
    return QualityReport(
        count=count,
        seed=seed,
        screened=len(results),
        rejected=rejected,
        selection_rate=selection_rate,
        high_risk=sorted(HIGH_RISK),
        high_risk_manifests=len(high),
        selected_high_risk=sum(1 for k in high if k in selected),
        lane_rates={lane: round(lanes.get(lane, 0) / total, 4) for lane in ("GREEN", "BLUE", "YELLOW", "RED")},
        referrals=dict(Counter(r.referral for r in scored)),
        rules=quality,
        watchlist=str(watchlist or ""),
        ruleset_version=ctx.ruleset.version,
        risk_scale=risk_scale,
        notes=notes,
    )


def _default_watchlist(refdata: str) -> Path | None:
    """The list the generator takes its watchlisted names from (the UN consolidated list)."""
    folder = Path(refdata) / "sanctions" / "un"
    found = sorted(folder.glob("*.xml")) if folder.is_dir() else []
    return found[-1] if found else None


def report_json(report: QualityReport) -> str:
    return json.dumps(report.to_dict(), indent=2)
