"""The batch screening core: decoded inputs in, results / alerts / rejections out.

The offline ``cargowatch screen`` command and the streaming worker call this same
function, so what the tests prove is what runs in the stream. No Kafka, no clock: the
caller passes ``now``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from enrichers.enrich import HistoryLookup, PartyScreener, TraderLookup, enrich_batch
from enrichers.refdata import ReferenceData
from schemas.model import Alert, FilingFingerprint, Manifest, Rejection, ScreeningResult, Source
from schemas.validation import ValidationConfig, validate_batch
from streams.alerts import is_alert, make_alert
from streams.scoring import Ruleset, ScoringReference, score_batch
from streams.versions import VersionLedger


class HistoryState(HistoryLookup, Protocol):
    """What the screening core needs of trader history: read a snapshot, learn from a batch."""

    def observe(self, manifests: Sequence[Manifest], now: datetime) -> None: ...


@dataclass
class ScreeningContext:
    """Everything the core consults. The shell keeps it current (lists swapped, rules reloaded)."""

    ref: ReferenceData
    validation: ValidationConfig
    ruleset: Ruleset
    scoring: ScoringReference
    traders: TraderLookup
    history: HistoryState
    ledger: VersionLedger = field(default_factory=VersionLedger)
    screener: PartyScreener | None = None
    # The amendment memory: the latest screened version of each filing, as the fingerprint
    # an amendment is compared with (~0.3 KB each with its key; whole Manifests were ~4 KB).
    last_screened: dict[str, FilingFingerprint] = field(default_factory=dict)
    # Beyond the bound the oldest filings are forgotten a few at a time: an amendment to
    # one of them is scored as "previous version unknown" (LATE_AMENDMENT treats that as
    # changed), never as a new filing.
    keep_last_screened: int = 50_000


@dataclass
class Inbound:
    """One decoded input, still tied to where it came from (index into the caller's batch)."""

    index: int
    item: Manifest | Rejection
    received_at: datetime
    source: Source


@dataclass
class BatchOutcome:
    results: list[tuple[int, ScreeningResult]] = field(default_factory=list)
    alerts: list[tuple[int, Alert]] = field(default_factory=list)
    rejections: list[tuple[int, Rejection]] = field(default_factory=list)
    replays: list[int] = field(default_factory=list)
    out_of_order: list[int] = field(default_factory=list)
    screened: list[tuple[int, Manifest]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "screened": len(self.results),
            "rejected": len(self.rejections),
            "replay": len(self.replays),
            "out_of_order": len(self.out_of_order),
            "alerts": len(self.alerts),
        }


def screen_batch(batch: Sequence[Inbound], ctx: ScreeningContext, now: datetime) -> BatchOutcome:
    """Validate, de-duplicate, enrich and score one batch.

    Every input ends in exactly one of: a result, a rejection, a replay (already
    screened: skipped) or an out-of-order amendment (recorded, not re-scored).
    """
    out = BatchOutcome()
    decoded: list[Inbound] = []
    for inbound in batch:
        if isinstance(inbound.item, Rejection):
            out.rejections.append((inbound.index, inbound.item))
        else:
            decoded.append(inbound)

    manifests = [d.item for d in decoded]
    errors = validate_batch(manifests, ctx.ref, ctx.validation, now)  # type: ignore[arg-type]
    valid: list[Inbound] = []
    previous: list[FilingFingerprint | None] = []  # the version each amendment follows, if screened
    fingerprints: list[FilingFingerprint] = []
    latest_in_batch: dict[str, FilingFingerprint] = {}
    for inbound, errs in zip(decoded, errors, strict=True):
        m: Manifest = inbound.item  # type: ignore[assignment]
        if errs:
            out.rejections.append(
                (
                    inbound.index,
                    Rejection(
                        manifest_id=m.manifest_id,
                        version=m.version,
                        errors=errs,
                        received_at=inbound.received_at,
                        source=inbound.source,
                    ),
                )
            )
            continue
        key = (m.manifest_id, m.version)
        arrival = ctx.ledger.classify(*key)
        if arrival == "replay":
            out.replays.append(inbound.index)
            continue
        if arrival == "out_of_order":
            out.out_of_order.append(inbound.index)
            continue
        # Versions of one manifest in the same batch are screened in order, each against
        # the one before it (for LATE_AMENDMENT), whether that was in this batch or earlier.
        ctx.ledger.mark(*key)
        previous.append(latest_in_batch.get(m.manifest_id) or ctx.last_screened.get(m.manifest_id))
        fingerprint = FilingFingerprint.of(m)
        fingerprints.append(fingerprint)
        latest_in_batch[m.manifest_id] = fingerprint
        valid.append(inbound)

    if valid:
        vm: list[Manifest] = [v.item for v in valid]  # type: ignore[misc]
        enriched = enrich_batch(
            vm,
            [v.received_at for v in valid],
            ctx.screener,
            ctx.traders,
            ctx.history,
            previous,
        )
        results = score_batch(enriched, ctx.ruleset, ctx.scoring, now)
        for inbound, manifest, result in zip(valid, vm, results, strict=True):
            out.results.append((inbound.index, result))
            out.screened.append((inbound.index, manifest))
            if is_alert(result):
                out.alerts.append((inbound.index, make_alert(result, manifest, now)))
        ctx.history.observe(vm, now)
        last = ctx.last_screened
        for m, fingerprint in zip(vm, fingerprints, strict=True):
            last.pop(m.manifest_id, None)  # re-insert: the newest version is the youngest
            last[m.manifest_id] = fingerprint
        excess = len(last) - ctx.keep_last_screened
        if excess > 0:
            # Dicts keep insertion order: drop the oldest, not everything at once.
            for manifest_id in list(itertools.islice(last, excess)):
                del last[manifest_id]
    out.rejections.sort(key=lambda r: r[0])
    return out
