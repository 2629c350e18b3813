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
scored (the screening core observes a batch only after scoring it). It serialises to
msgspec JSON (:meth:`TraderHistory.dumps` / :meth:`TraderHistory.loads`), never pickle.

>>> register = TraderRegister.load("traders.csv")  # doctest: +SKIP
>>> register.get("DE123456789012").aeo_valid_until  # doctest: +SKIP
'2027-06-30'
"""

from __future__ import annotations

import asyncio
import csv
import logging
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


def decision_record_handler(history: TraderHistory, codec: Any) -> Callable[[bytes | None, bytes | None], None]:
    """An ``alerts.decisions`` record into the history (PRIOR_FINDINGS), once per alert."""

    def apply(key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            history.record_decision(msgspec.convert(codec.decode("Decision", value), Decision))

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


class TraderState(msgspec.Struct):
    """What the stream taught about one trader (serialised with the history)."""

    first_seen: datetime | None = None
    shipments: int = 0
    hs_chapters: dict[str, int] = msgspec.field(default_factory=dict)
    routes: dict[str, int] = msgspec.field(default_factory=dict)
    confirmed: int = 0
    no_finding: int = 0
    false_positive: int = 0
    last_seen: datetime | None = None


class _HistoryFile(msgspec.Struct):
    format: int
    traders: dict[str, TraderState]
    manifests: dict[str, list[str]]  # manifest_id -> trader ids, to attribute decisions
    decisions: list[str]  # alert ids already counted


@dataclass
class TraderHistory:
    """Trader history keyed by trader_id, learned from the stream.

    ``max_keys`` bounds the per-trader chapter and route counters (the rarest are dropped),
    ``max_manifests`` the memory of which traders a manifest had (for decisions that
    name no trader).
    """

    max_keys: int = 32
    max_manifests: int = 500_000

    def __post_init__(self) -> None:
        self._traders: dict[str, TraderState] = {}
        self._manifests: dict[str, list[str]] = {}
        self._decisions: dict[str, None] = {}

    def __len__(self) -> int:
        return len(self._traders)

    def snapshot(self, trader_id: str) -> TraderHistorySnapshot | None:
        """What is known of the trader so far, or None for a trader never seen."""
        st = self._traders.get(trader_id)
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

    def observe(self, manifests: Sequence[Manifest], now: datetime) -> None:
        """Learn from screened manifests. An amendment (a manifest id already seen) does
        not count as another shipment."""
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
                st = self._traders.get(tid)
                if st is None:
                    st = self._traders[tid] = TraderState(first_seen=now)
                st.shipments += 1
                st.last_seen = now
                _bump(st.routes, route, self.max_keys)
                for ch in chapters:
                    _bump(st.hs_chapters, ch, self.max_keys)

    def record_decision(self, decision: Decision) -> bool:
        """Count an officer decision against the manifest's traders (once per alert id).
        Returns False for a decision already counted or one whose traders are unknown."""
        if decision.alert_id in self._decisions:
            return False
        ids = list(decision.trader_ids) or self._manifests.get(decision.manifest_id, [])
        if not ids:
            return False
        self._decisions[decision.alert_id] = None
        if len(self._decisions) > self.max_manifests:
            for key in list(self._decisions)[: len(self._decisions) // 10]:
                del self._decisions[key]
        for tid in ids:
            st = self._traders.get(tid)
            if st is None:
                st = self._traders[tid] = TraderState(first_seen=decision.decided_at)
            if decision.outcome == "CONFIRMED":
                st.confirmed += 1
            elif decision.outcome == "NO_FINDING":
                st.no_finding += 1
            else:
                st.false_positive += 1
        return True

    def _remember(self, manifest_id: str, ids: list[str]) -> None:
        self._manifests[manifest_id] = ids
        if len(self._manifests) > self.max_manifests:
            # dicts keep insertion order: forget the oldest tenth
            for key in list(self._manifests)[: len(self._manifests) // 10]:
                del self._manifests[key]

    def dumps(self) -> bytes:
        """The whole history as msgspec JSON (for a checkpoint)."""
        return msgspec.json.encode(
            _HistoryFile(format=1, traders=self._traders, manifests=self._manifests, decisions=list(self._decisions))
        )

    @classmethod
    def loads(cls, data: bytes, **kw: Any) -> TraderHistory:
        """Rebuild a history from :meth:`dumps` output."""
        f = msgspec.json.decode(data, type=_HistoryFile)
        h = cls(**kw)
        h._traders = f.traders
        h._manifests = f.manifests
        h._decisions = dict.fromkeys(f.decisions)
        return h


def _bump(counter: dict[str, int], key: str, max_keys: int) -> None:
    counter[key] = counter.get(key, 0) + 1
    if len(counter) > max_keys:
        # drop the rarest other key, so a new key can establish itself
        rarest = min((k for k in counter if k != key), key=counter.__getitem__)
        del counter[rarest]
