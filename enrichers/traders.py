"""Traders: the register (who they are, their AEO certificate) and the history learned
from the stream (what they usually ship, where, and what officers found).

The register comes from the contract's CSV (header
``trader_id,name,country,aeo_certificate,aeo_valid_until,risk_notes``) or JSON lines, and
travels on the compacted ``ref.traders`` topic (key ``trader_id``); every worker reads
the whole topic (:func:`read_register_topic`). A manifest party is the trader whose
``trader_id`` equals the party's ``identifier``.

The history is state: :meth:`TraderHistory.observe` learns from screened manifests,
:meth:`TraderHistory.record_decision` from officer decisions (``alerts.decisions``), and
:meth:`TraderHistory.snapshot` tells scoring what was known *before* the manifest being
scored (the screening core observes a batch only after scoring it). In the worker the
history is a table in Kafka (streams/history.py): what a worker learns travels as
:class:`TraderDelta` records, folded per trader into :class:`TraderState` values, msgspec
JSON, never pickle.

>>> register = TraderRegister.load("traders.csv")  # doctest: +SKIP
>>> register.get("DE123456789012").aeo_valid_until  # doctest: +SKIP
'2027-06-30'
"""

from __future__ import annotations

import asyncio
import csv
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import msgspec

from enrichers.enriched import TraderHistorySnapshot
from schemas.model import Decision, Manifest, TraderProfile

log = logging.getLogger(__name__)

REGISTER_HEADER = ("trader_id", "name", "country", "aeo_certificate", "aeo_valid_until", "risk_notes")


class TraderRegisterError(ValueError):
    """A register file that cannot be read; the message gives file, line and problem."""


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _profile(row: dict[str, Any], where: str) -> TraderProfile:
    trader_id = _clean(row.get("trader_id"))
    name = _clean(row.get("name"))
    country = _clean(row.get("country"))
    if not trader_id:
        raise TraderRegisterError(f"{where}: trader_id is empty")
    if not name:
        raise TraderRegisterError(f"{where}: name is empty for trader {trader_id}")
    if not country or len(country) != 2 or not country.isalpha():
        raise TraderRegisterError(f"{where}: country {country!r} of trader {trader_id} is not an ISO alpha-2 code")
    until = _clean(row.get("aeo_valid_until"))
    if until:
        try:
            date.fromisoformat(until[:10])
        except ValueError:
            raise TraderRegisterError(
                f"{where}: aeo_valid_until {until!r} of trader {trader_id} is not an ISO date (YYYY-MM-DD)"
            ) from None
    return TraderProfile(
        trader_id=trader_id,
        name=name,
        country=country.upper(),
        aeo_certificate=_clean(row.get("aeo_certificate")),
        aeo_valid_until=until,
        risk_notes=_clean(row.get("risk_notes")),
    )


def certificate_valid(profile: TraderProfile | None, on: date) -> bool:
    """True when the trader holds an AEO / C-TPAT certificate valid on that date
    (an expired certificate, or one without a validity date, does not count)."""
    if profile is None or not profile.aeo_certificate or not profile.aeo_valid_until:
        return False
    try:
        return date.fromisoformat(profile.aeo_valid_until[:10]) >= on
    except ValueError:
        return False


class TraderRegister:
    """The trader register: profile by trader_id. Lookups are dictionary reads."""

    def __init__(self, profiles: Iterable[TraderProfile] = ()):
        self._by_id: dict[str, TraderProfile] = {}
        for p in profiles:
            self._by_id[p.trader_id] = p

    def get(self, trader_id: str) -> TraderProfile | None:
        return self._by_id.get(trader_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[TraderProfile]:
        return iter(self._by_id.values())

    def __contains__(self, trader_id: object) -> bool:
        return trader_id in self._by_id

    def upsert(self, profile: TraderProfile) -> None:
        self._by_id[profile.trader_id] = profile

    def remove(self, trader_id: str) -> None:
        self._by_id.pop(trader_id, None)

    @classmethod
    def load(cls, path: str | Path) -> TraderRegister:
        """Read a register: ``.jsonl`` / ``.ndjson`` / ``.json`` as JSON lines, anything
        else as the contract's CSV. Raises TraderRegisterError naming file and line."""
        return cls(read_register_file(path))


def read_register_file(path: str | Path) -> list[TraderProfile]:
    """Profiles from a register file (CSV with the contract header, or JSON lines)."""
    p = Path(path)
    if not p.is_file():
        raise TraderRegisterError(f"trader register {p} does not exist")
    if p.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return list(_read_jsonl(p))
    return list(_read_csv(p))


def _read_csv(p: Path) -> Iterator[TraderProfile]:
    with p.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [h for h in ("trader_id", "name", "country") if h not in header]
        if missing:
            raise TraderRegisterError(
                f"{p}: CSV header lacks {', '.join(missing)}; expected {','.join(REGISTER_HEADER)}"
            )
        unknown = [h for h in header if h not in REGISTER_HEADER]
        if unknown:
            raise TraderRegisterError(
                f"{p}: unknown column(s) {', '.join(unknown)}; expected {','.join(REGISTER_HEADER)}"
            )
        reader.fieldnames = header
        for row in reader:
            yield _profile(row, f"{p}:{reader.line_num}")


def _read_jsonl(p: Path) -> Iterator[TraderProfile]:
    with p.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = msgspec.json.decode(line)
            except msgspec.DecodeError as exc:
                raise TraderRegisterError(f"{p}:{n}: not JSON ({exc})") from None
            if not isinstance(obj, dict):
                raise TraderRegisterError(f"{p}:{n}: expected an object with trader_id, name, country")
            unknown = [k for k in obj if k not in REGISTER_HEADER]
            if unknown:
                raise TraderRegisterError(f"{p}:{n}: unknown field(s) {', '.join(unknown)}")
            yield _profile(obj, f"{p}:{n}")


# ----------------------------------------------------------------- Kafka: ref.traders


async def publish_register(
    settings: Any,
    profiles: Sequence[TraderProfile],
    on_progress: Any = None,
) -> int:
    """Publish profiles to ``settings.topics.traders`` (compacted, key trader_id, Avro
    ``TraderProfile``). Returns the number sent; all are acknowledged on return."""
    from cargowatch.kafka import make_producer
    from schemas.codec import Codec, registry_from_settings

    codec = Codec(registry_from_settings(settings.schema_registry_url))
    topic = settings.topics.traders
    producer = make_producer(settings)
    await producer.start()
    sent = 0
    try:
        pending = []
        for profile in profiles:
            fut = await producer.send(topic, key=profile.trader_id.encode(), value=codec.encode("TraderProfile", profile))
            pending.append(fut)
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                sent += len(pending)
                pending.clear()
                if on_progress:
                    on_progress(sent)
        if pending:
            await asyncio.gather(*pending)
            sent += len(pending)
        if on_progress:
            on_progress(sent)
    finally:
        await producer.stop()
    return sent


def register_record_handler(register: TraderRegister, codec: Any) -> Callable[[bytes | None, bytes | None], None]:
    """A ``ref.traders`` record into the register: upsert the profile; a tombstone (null
    value) removes the trader. What every worker's table tail applies."""

    def apply(key: bytes | None, value: bytes | None) -> None:
        if value is None:
            if key:
                register.remove(key.decode())
            return
        register.upsert(msgspec.convert(codec.decode("TraderProfile", value), TraderProfile))

    return apply


async def read_register_topic(settings: Any, timeout_s: float = 30.0) -> TraderRegister:
    """The whole ``ref.traders`` topic as a register, read to its end offsets at call time
    by the same table reader and handler the workers run (every worker holds all traders)."""
    from cargowatch.kafka import TopicTail
    from schemas.codec import Codec, registry_from_settings

    register = TraderRegister()
    codec = Codec(registry_from_settings(settings.schema_registry_url))
    tail = TopicTail(settings, settings.topics.traders, register_record_handler(register, codec))
    task = asyncio.create_task(tail.run())
    try:
        await asyncio.wait_for(tail.caught_up.wait(), timeout_s)
    except TimeoutError:
        raise TimeoutError(f"reading {settings.topics.traders}: not read to its end in {timeout_s:.0f}s") from None
    finally:
        tail.stop()
        await task
    return register


async def _partitions(settings: Any, topic: str) -> list[int]:
    """Partition ids of a topic (empty when it does not exist)."""
    from cargowatch.kafka import make_admin

    admin = make_admin(settings)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for t in described:
        if t.get("topic") == topic and not t.get("error_code"):
            return sorted(p["partition"] for p in t.get("partitions", []))
    return []


# ----------------------------------------------------------------- history


class DecisionNote(msgspec.Struct, frozen=True, array_like=True):
    """One officer decision as the history keeps it (the most recent few per trader)."""

    alert_id: str
    outcome: str
    decided_at: datetime


class TraderDelta(msgspec.Struct, frozen=True, omit_defaults=True):
    """What one screened batch, or one officer decision, adds to a trader's history: what
    the worker emits per trader touched (topic ``traders.history.deltas``, in the
    partition of the trader id, several traders to a record), folded into the
    trader-history table by :meth:`TraderState.fold`.

    ``origin`` and ``seq`` identify it: a worker numbers its deltas in increasing order,
    so a delta delivered twice is folded once, and a worker can tell which of its own
    deltas the table already holds."""

    trader_id: str
    origin: str = ""
    seq: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    shipments: int = 0
    hs_chapters: dict[str, int] = msgspec.field(default_factory=dict)
    routes: dict[str, int] = msgspec.field(default_factory=dict)
    decisions: list[DecisionNote] = msgspec.field(default_factory=list)


class TraderState(msgspec.Struct, omit_defaults=True):
    """What the stream taught about one trader: the value of the trader-history table
    (msgspec JSON on its changelog topic ``traders.history``, key trader_id)."""

    first_seen: datetime | None = None
    shipments: int = 0
    hs_chapters: dict[str, int] = msgspec.field(default_factory=dict)
    routes: dict[str, int] = msgspec.field(default_factory=dict)
    confirmed: int = 0
    no_finding: int = 0
    false_positive: int = 0
    last_seen: datetime | None = None
    recent_decisions: list[DecisionNote] = msgspec.field(default_factory=list)
    applied: dict[str, int] = msgspec.field(default_factory=dict)  # origin -> last seq folded

    def fold(self, delta: TraderDelta, max_keys: int = 32) -> bool:
        """Add a delta (in place). False, and nothing changes, for a delta of an origin
        already folded up to that sequence number (a redelivery)."""
        if delta.origin:
            if delta.seq <= self.applied.get(delta.origin, -1):
                return False
            self.applied[delta.origin] = delta.seq
            if len(self.applied) > _MAX_ORIGINS:
                # origins are workers (a worker without a fixed id is a new origin per
                # start): forget the one that emitted longest ago
                del self.applied[min(self.applied, key=self.applied.__getitem__)]
        if delta.first_seen is not None and (self.first_seen is None or delta.first_seen < self.first_seen):
            self.first_seen = delta.first_seen
        if delta.last_seen is not None and (self.last_seen is None or delta.last_seen > self.last_seen):
            self.last_seen = delta.last_seen
        self.shipments += delta.shipments
        for route, n in delta.routes.items():
            _bump(self.routes, route, max_keys, n)
        for chapter, n in delta.hs_chapters.items():
            _bump(self.hs_chapters, chapter, max_keys, n)
        if not delta.decisions:
            return True
        known = {d.alert_id for d in self.recent_decisions}
        for note in delta.decisions:
            if note.alert_id in known:
                continue
            known.add(note.alert_id)
            if note.outcome == "CONFIRMED":
                self.confirmed += 1
            elif note.outcome == "NO_FINDING":
                self.no_finding += 1
            else:
                self.false_positive += 1
            self.recent_decisions.append(note)
        if len(self.recent_decisions) > _RECENT_DECISIONS:
            self.recent_decisions.sort(key=lambda d: d.decided_at)
            del self.recent_decisions[:-_RECENT_DECISIONS]
        return True

    def copy(self) -> TraderState:
        return msgspec.structs.replace(
            self, hs_chapters=dict(self.hs_chapters), routes=dict(self.routes),
            recent_decisions=list(self.recent_decisions), applied=dict(self.applied),
        )


_MAX_ORIGINS = 32
_RECENT_DECISIONS = 10
_state_encoder = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(TraderState)
_delta_encoder = msgspec.json.Encoder()
_delta_decoder = msgspec.json.Decoder(list[TraderDelta])


def encode_state(state: TraderState) -> bytes:
    return _state_encoder.encode(state)


def decode_state(data: bytes) -> TraderState:
    return _state_decoder.decode(data)


def encode_deltas(deltas: Sequence[TraderDelta]) -> bytes:
    """Deltas of one partition of the deltas topic, as one record (a list)."""
    return _delta_encoder.encode(deltas)


def decode_deltas(data: bytes) -> list[TraderDelta]:
    return _delta_decoder.decode(data)


@dataclass
class TraderHistory:
    """Trader history keyed by trader_id, learned from the stream.

    Alone (``origin`` empty: ``cargowatch screen``, backtest, quality) it learns from
    what it observes. In a worker it is a replica of the trader-history table: the
    table's changelog feeds :meth:`replace`, and what the worker learns itself is folded
    at once (so its next batch sees it) and queued as :class:`TraderDelta` records for
    the table (:meth:`take_deltas`), until the table's own state says it holds them.

    A changelog record is only stored when it arrives (:meth:`replace_raw`: the tail runs
    on the worker's event loop, which also carries its commits) and read when its trader
    is next looked up: every worker tails every trader's changes, screens few of them,
    and a busy trader changes many times between two lookups.

    ``max_keys`` bounds the per-trader chapter and route counters (the rarest are dropped),
    ``max_manifests`` the memory of which traders a manifest had (for decisions that
    name no trader, and amendments that are not another shipment).
    """

    max_keys: int = 32
    max_manifests: int = 500_000
    origin: str = ""
    # own deltas kept until the table holds them; beyond this (the fold stopped or far
    # behind) the oldest traders' are dropped: their snapshots fall back to the table's
    max_pending: int = 200_000

    def __post_init__(self) -> None:
        self._traders: dict[str, TraderState] = {}  # what scoring reads
        # table states received and not applied yet (changelog value bytes, a decoded
        # state, or None for a deletion): applied when their trader is looked up
        self._stale: dict[str, bytes | TraderState | None] = {}
        self._pending: dict[str, list[TraderDelta]] = {}  # own deltas the table does not hold yet
        self._pending_count = 0
        self._outbox: list[TraderDelta] = []
        self._manifests: dict[str, list[str]] = {}
        self._decisions: dict[str, None] = {}
        self._seq = 0
        # the changelog tail (event loop) and screening (a worker thread) both write
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            stale = sum(1 for t, v in self._stale.items() if v is not None and t not in self._traders)
            return len(self._traders) + stale

    def snapshot(self, trader_id: str) -> TraderHistorySnapshot | None:
        """What is known of the trader so far, or None for a trader never seen."""
        st = self.state(trader_id)
        if st is None:
            return None
        return TraderHistorySnapshot(
            trader_id=trader_id,
            first_seen=st.first_seen,
            shipments=st.shipments,
            hs_chapters=dict(st.hs_chapters),
            routes=dict(st.routes),
            confirmed_findings=st.confirmed,
            no_findings=st.no_finding + st.false_positive,
        )

    def state(self, trader_id: str) -> TraderState | None:
        """The trader's whole state (recent decisions included), or None."""
        if trader_id in self._stale:
            with self._lock:
                self._apply_stale(trader_id)
        return self._traders.get(trader_id)

    def observe(self, manifests: Sequence[Manifest], now: datetime) -> None:
        """Learn from screened manifests: one delta per trader touched. An amendment (a
        manifest id already seen) does not count as another shipment."""
        seen: dict[str, tuple[list[int], dict[str, int], dict[str, int]]] = {}  # shipments, routes, chapters
        for m in manifests:
            ids = sorted({p.identifier for p in m.parties if p.identifier})
            if not ids:
                continue
            new_shipment = m.manifest_id not in self._manifests
            self._remember(m.manifest_id, ids)
            if not new_shipment:
                continue
            route = f"{m.route.loading_port}>{m.route.discharge_port}"
            chapters = {g.hs_code[:2] for g in m.goods}
            for tid in ids:
                acc = seen.get(tid)
                if acc is None:
                    acc = seen[tid] = ([0], {}, {})
                acc[0][0] += 1
                routes, counts = acc[1], acc[2]
                routes[route] = routes.get(route, 0) + 1
                for ch in chapters:
                    counts[ch] = counts.get(ch, 0) + 1
        if seen:
            self._learn_all(
                [
                    TraderDelta(tid, first_seen=now, last_seen=now, shipments=n[0], routes=routes, hs_chapters=chapters)
                    for tid, (n, routes, chapters) in seen.items()
                ]
            )

    def decision_deltas(self, decision: Decision) -> list[TraderDelta]:
        """The deltas an officer decision makes (one per trader it concerns; none for a
        decision already counted or whose traders are unknown)."""
        if decision.alert_id in self._decisions:
            return []
        ids = list(decision.trader_ids) or self._manifests.get(decision.manifest_id, [])
        if not ids:
            return []
        self._decisions[decision.alert_id] = None
        if len(self._decisions) > self.max_manifests:
            for key in list(self._decisions)[: len(self._decisions) // 10]:
                del self._decisions[key]
        note = DecisionNote(decision.alert_id, decision.outcome, decision.decided_at)
        return [TraderDelta(tid, first_seen=decision.decided_at, decisions=[note]) for tid in ids]

    def record_decision(self, decision: Decision) -> bool:
        """Count an officer decision against the manifest's traders (once per alert id).
        Returns False for a decision already counted or one whose traders are unknown."""
        deltas = self.decision_deltas(decision)
        self._learn_all(deltas)
        return bool(deltas)

    def _learn_all(self, deltas: list[TraderDelta]) -> None:
        traders, max_keys = self._traders, self.max_keys
        with self._lock:
            # the table's latest states first: their view is rebuilt from the state and the
            # pending deltas, so a delta pending before it is applied would count twice
            stale = self._stale
            for d in deltas:
                if d.trader_id in stale:
                    self._apply_stale(d.trader_id)
            if self.origin:
                # numbered from the clock: a restarted worker continues above its past deltas
                first = self._seq = max(self._seq + 1, time.time_ns())
                self._seq += len(deltas) - 1
                deltas = [
                    msgspec.structs.replace(d, origin=self.origin, seq=first + k) for k, d in enumerate(deltas)
                ]
                pending = self._pending
                for d in deltas:
                    pending.setdefault(d.trader_id, []).append(d)
                self._pending_count += len(deltas)
                if self._pending_count > self.max_pending:
                    self._settle_pending()
                if self._pending_count > self.max_pending:
                    # dicts keep insertion order: the traders pending longest go first
                    for tid in list(pending)[: max(1, len(pending) // 10)]:
                        self._pending_count -= len(pending.pop(tid))
                self._outbox.extend(deltas)
            for d in deltas:
                st = traders.get(d.trader_id)
                if st is None:
                    st = traders[d.trader_id] = TraderState()
                st.fold(d, max_keys)

    def take_deltas(self) -> list[TraderDelta]:
        """The deltas learned since the last call, for the table (emptied)."""
        with self._lock:
            out, self._outbox = self._outbox, []
        return out

    def replace(self, trader_id: str, state: TraderState | None) -> None:
        """The table's state of a trader (a changelog record; None: deleted). Own deltas
        it holds are dropped; those it does not hold yet stay folded on top."""
        with self._lock:
            self._stale[trader_id] = state

    def replace_raw(self, trader_id: str, value: bytes | None) -> None:
        """:meth:`replace` with the changelog record's value as it came (decoded when the
        trader is next looked up; a later record of the same trader replaces it unread)."""
        with self._lock:
            self._stale[trader_id] = value

    def _apply_stale(self, trader_id: str) -> None:
        """The trader's latest table state received, applied (holding the lock)."""
        if trader_id not in self._stale:
            return
        value = self._stale.pop(trader_id)
        try:
            state = decode_state(value) if isinstance(value, bytes) else value
        except msgspec.DecodeError as exc:  # a bad record must not fail the batch screening it
            log.warning("trader-history record of %s unreadable, previous state kept: %s", trader_id, exc)
            return
        pending = self._pending.get(trader_id)
        if pending and state is not None:
            held = state.applied.get(self.origin, -1)
            before = len(pending)
            pending = [d for d in pending if d.seq > held]
            self._pending_count -= before - len(pending)
            if pending:
                self._pending[trader_id] = pending
            else:
                del self._pending[trader_id]
        if state is None and not pending:
            self._traders.pop(trader_id, None)
            return
        view = state.copy() if state is not None else TraderState()
        for d in pending or ():
            view.fold(d, self.max_keys)
        self._traders[trader_id] = view

    @property
    def unconfirmed(self) -> int:
        """Own deltas the table does not hold yet (emitted, or lost with an aborted batch)."""
        with self._lock:
            self._settle_pending()
            return self._pending_count

    def _settle_pending(self) -> None:
        """Apply the received table states of the traders with own deltas pending (they
        may hold them); holding the lock."""
        for tid in [t for t in self._pending if t in self._stale]:
            self._apply_stale(tid)

    def _remember(self, manifest_id: str, ids: list[str]) -> None:
        self._manifests[manifest_id] = ids
        if len(self._manifests) > self.max_manifests:
            # dicts keep insertion order: forget the oldest tenth
            for key in list(self._manifests)[: len(self._manifests) // 10]:
                del self._manifests[key]


def _bump(counter: dict[str, int], key: str, max_keys: int, n: int = 1) -> None:
    counter[key] = counter.get(key, 0) + n
    if len(counter) > max_keys:
        # drop the rarest other key, so a new key can establish itself
        rarest = min((k for k in counter if k != key), key=counter.__getitem__)
        del counter[rarest]
