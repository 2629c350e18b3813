"""What the board knows, rebuilt from the topics: alerts, officer decisions and rolling
counts of screened, alerted and dead-lettered manifests. Pure logic, no Kafka, no HTTP.

>>> board = BoardState()
>>> board.add_alert(alert)                       # doctest: +SKIP
True
>>> board.query(AlertFilter(lane="RED"))[0].manifest_id   # doctest: +SKIP
'24NL0000000000001'
"""

from __future__ import annotations

import bisect
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from schemas.model import LANES, Alert, Decision

WINDOW_S = 3600  # lane rates, counts and DLQ figures cover the last hour
THROUGHPUT_S = 60  # throughput is the mean over the last minute
DEFAULT_CAPACITY = 20_000  # alerts held for the board; older ones leave it (not Kafka)


class AlertRow(msgspec.Struct):
    """One line of the alert queue (no addresses; ids, codes and the consignee's name)."""

    alert_id: str
    manifest_id: str
    version: int
    lane: str
    referral: str
    score: float
    raised_at: str
    mode: str
    loading_port: str
    discharge_port: str
    filer_id: str
    consignee_id: str | None
    consignee_name: str
    rules: list[str]
    status: str  # OPEN or the latest decision's outcome
    decided_by: str | None = None


class LaneFigure(msgspec.Struct):
    lane: str
    count: int
    rate: float
    quota: float | None


class RuleFigure(msgspec.Struct):
    rule_id: str
    decided: int
    confirmed: int
    no_finding: int
    false_positive: int
    hit_rate: float | None


class Figures(msgspec.Struct):
    """The key figures panel."""

    throughput_per_s: float
    screened_last_hour: int
    alerts_last_hour: int
    open_alerts: int
    decisions: int
    lanes: list[LaneFigure]
    rules: list[RuleFigure]
    consumer_lag: int | None
    dlq_last_hour: int
    dlq_per_min: float
    alerts_dlq_last_hour: int
    caught_up: bool


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """The board's filters; empty means any. ``trader`` and ``port`` match ids and
    UN/LOCODEs case-insensitively by prefix; ``rule`` is a rule id among the hits."""

    lane: str = ""
    referral: str = ""
    rule: str = ""
    trader: str = ""
    port: str = ""
    mode: str = ""
    status: str = ""  # OPEN, DECIDED or empty

    @classmethod
    def from_query(cls, query: dict[str, str]) -> AlertFilter:
        def get(name: str, limit: int = 40) -> str:
            return (query.get(name) or "").strip()[:limit]

        return cls(
            lane=get("lane").upper(),
            referral=get("referral").upper(),
            rule=get("rule").upper(),
            trader=get("trader").upper(),
            port=get("port").upper(),
            mode=get("mode").upper(),
            status=get("status").upper(),
        )

    def matches(self, alert: Alert, status: str) -> bool:
        s = alert.summary
        if self.lane and alert.lane != self.lane:
            return False
        if self.referral and alert.referral != self.referral:
            return False
        if self.mode and s.mode != self.mode:
            return False
        if self.rule and all(h.rule_id != self.rule for h in alert.hits):
            return False
        if self.port and not (
            s.loading_port.startswith(self.port) or s.discharge_port.startswith(self.port)
        ):
            return False
        if self.trader and not any(
            (tid or "").upper().startswith(self.trader) for tid in (s.consignee_id, s.filer_id)
        ):
            return False
        if self.status == "OPEN" and status != "OPEN":
            return False
        return not (self.status == "DECIDED" and status == "OPEN")


class MinuteCounts:
    """Counts per key in one-minute buckets over a rolling window."""

    def __init__(self, window_s: int = WINDOW_S):
        self.window_min = max(1, window_s // 60)
        self._buckets: deque[tuple[int, Counter[str]]] = deque()

    def add(self, key: str, ts: float, n: int = 1) -> None:
        minute = int(ts // 60)
        if self._buckets and self._buckets[-1][0] == minute:
            self._buckets[-1][1][key] += n
        elif not self._buckets or self._buckets[-1][0] < minute:
            self._buckets.append((minute, Counter({key: n})))
        else:  # late record: find its bucket (rare; records arrive in time order per partition)
            for m, counts in self._buckets:
                if m == minute:
                    counts[key] += n
                    break
            else:
                self._buckets.append((minute, Counter({key: n})))
                self._buckets = deque(sorted(self._buckets, key=lambda b: b[0]))
        self._trim(time.time())

    def _trim(self, now: float) -> None:
        oldest = int(now // 60) - self.window_min
        while self._buckets and self._buckets[0][0] <= oldest:
            self._buckets.popleft()

    def total(self, now: float, seconds: int | None = None) -> Counter[str]:
        """Counts per key over the last ``seconds`` (default: the whole window)."""
        self._trim(now)
        since = now - (seconds if seconds is not None else self.window_min * 60)
        out: Counter[str] = Counter()
        for minute, counts in self._buckets:
            if (minute + 1) * 60 > since:
                out.update(counts)
        return out


class BoardState:
    """Alerts, decisions and rolling counts; every ``add_*`` is idempotent, so rebuilding
    from the topics after a restart, or reading a record twice, changes nothing."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self.alerts: dict[str, Alert] = {}
        # (raised_at, alert_id), oldest first: topics are read partition by partition, so
        # arrival order is not time order
        self._order: list[tuple[datetime, str]] = []
        self.decisions: dict[str, list[Decision]] = {}
        self._decision_keys: set[tuple[str, str, str]] = set()
        self.counts = MinuteCounts()
        self.caught_up = False
        self.consumer_lag: int | None = None

    # -- events ----------------------------------------------------------------------
    def add_alert(self, alert: Alert) -> bool:
        """Put an alert on the board; False when it is already there."""
        if alert.alert_id in self.alerts:
            return False
        self.alerts[alert.alert_id] = alert
        bisect.insort(self._order, (alert.raised_at, alert.alert_id))
        while len(self._order) > self.capacity:
            _, oldest = self._order.pop(0)
            self.alerts.pop(oldest, None)
        return True

    def add_decision(self, decision: Decision) -> bool:
        """Record an officer decision; False when this exact decision is known."""
        stamp = decision.decided_at.astimezone(UTC).replace(
            microsecond=decision.decided_at.microsecond // 1000 * 1000
        )
        key = (decision.alert_id, decision.officer, stamp.isoformat())
        if key in self._decision_keys:
            return False
        self._decision_keys.add(key)
        history = self.decisions.setdefault(decision.alert_id, [])
        history.append(decision)
        history.sort(key=lambda d: d.decided_at)
        return True

    def count(self, kind: str, ts: float, n: int = 1) -> None:
        """Count a record of a kind (``screened:<LANE>``, ``alert``, ``dlq``, ``alerts_dlq``)
        at its Kafka timestamp (seconds)."""
        self.counts.add(kind, ts, n)

    # -- views -----------------------------------------------------------------------
    def latest_decision(self, alert_id: str) -> Decision | None:
        history = self.decisions.get(alert_id)
        return history[-1] if history else None

    def status(self, alert_id: str) -> str:
        latest = self.latest_decision(alert_id)
        return latest.outcome if latest else "OPEN"

    def row(self, alert: Alert) -> AlertRow:
        latest = self.latest_decision(alert.alert_id)
        s = alert.summary
        return AlertRow(
            alert_id=alert.alert_id,
            manifest_id=alert.manifest_id,
            version=alert.version,
            lane=alert.lane,
            referral=alert.referral,
            score=round(alert.score, 1),
            raised_at=alert.raised_at.isoformat(),
            mode=s.mode,
            loading_port=s.loading_port,
            discharge_port=s.discharge_port,
            filer_id=s.filer_id,
            consignee_id=s.consignee_id,
            consignee_name=s.consignee_name,
            rules=sorted({h.rule_id for h in alert.hits}),
            status=latest.outcome if latest else "OPEN",
            decided_by=latest.officer if latest else None,
        )

    def query(self, flt: AlertFilter, limit: int = 200) -> list[AlertRow]:
        """The newest alerts (by ``raised_at``) matching the filters, at most ``limit``
        (never the whole board)."""
        out: list[AlertRow] = []
        for _, alert_id in reversed(self._order):
            alert = self.alerts[alert_id]
            if flt.matches(alert, self.status(alert.alert_id)):
                out.append(self.row(alert))
                if len(out) >= limit:
                    break
        return out

    def rule_ids(self) -> list[str]:
        """Rule ids seen on the board (for the rule filter)."""
        return sorted({h.rule_id for a in self.alerts.values() for h in a.hits})

    def figures(self, quotas: dict[str, float], now: float | None = None) -> Figures:
        now = time.time() if now is None else now
        hour = self.counts.total(now)
        minute = self.counts.total(now, THROUGHPUT_S)
        five = self.counts.total(now, 300)
        screened = sum(v for k, v in hour.items() if k.startswith("screened:"))
        lanes = [
            LaneFigure(
                lane=lane,
                count=hour.get(f"screened:{lane}", 0),
                rate=(hour.get(f"screened:{lane}", 0) / screened) if screened else 0.0,
                quota=quotas.get(lane),
            )
            for lane in LANES
        ]
        per_rule: dict[str, Counter[str]] = {}
        decided = 0
        for history in self.decisions.values():
            latest = history[-1]
            decided += 1
            for rule in set(latest.rule_ids):
                per_rule.setdefault(rule, Counter())[latest.outcome] += 1
        rules = []
        for rule, c in sorted(per_rule.items()):
            total = sum(c.values())
            rules.append(
                RuleFigure(
                    rule_id=rule,
                    decided=total,
                    confirmed=c["CONFIRMED"],
                    no_finding=c["NO_FINDING"],
                    false_positive=c["FALSE_POSITIVE"],
                    hit_rate=c["CONFIRMED"] / total if total else None,
                )
            )
        open_alerts = sum(1 for a in self.alerts if a not in self.decisions)
        return Figures(
            throughput_per_s=sum(v for k, v in minute.items() if k.startswith("screened:"))
            / THROUGHPUT_S,
            screened_last_hour=screened,
            alerts_last_hour=hour.get("alert", 0),
            open_alerts=open_alerts,
            decisions=decided,
            lanes=lanes,
            rules=rules,
            consumer_lag=self.consumer_lag,
            dlq_last_hour=hour.get("dlq", 0),
            dlq_per_min=five.get("dlq", 0) / 5.0,
            alerts_dlq_last_hour=hour.get("alerts_dlq", 0),
            caught_up=self.caught_up,
        )
