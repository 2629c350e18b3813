"""The batch screening core: every input ends in exactly one outcome."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from cargowatch.generator import GeneratorConfig, RiskRates, generate
from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData
from schemas.intake import read_json_line
from schemas.model import FilingFingerprint, Manifest, Rejection, Source
from streams.context import build_context
from streams.screening import Inbound, screen_batch

NOW = datetime(2026, 3, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def clean() -> list[dict]:
    ref = ReferenceData.load(Settings.load().refdata)
    return [m for m, _ in generate(6, seed=3, ref=ref, config=GeneratorConfig(rates=RiskRates.none()))]


def _inbound(records: list[dict | bytes]) -> list[Inbound]:
    out = []
    for i, record in enumerate(records):
        line = record if isinstance(record, bytes) else msgspec.json.encode(record)
        source = Source(kind="file", file="t.jsonl", line=i + 1)
        out.append(Inbound(index=i, item=read_json_line(line, source, NOW), received_at=NOW, source=source))
    return out


def test_each_input_is_screened_rejected_replayed_or_out_of_order(clean: list[dict]) -> None:
    ctx = build_context(Settings.load())
    v2 = dict(clean[1], version=2)
    batch = _inbound([clean[0], clean[0], b"{not json", v2, clean[1]])
    out = screen_batch(batch, ctx, NOW)
    assert [i for i, _ in out.results] == [0, 3]
    assert out.replays == [1]
    assert out.out_of_order == [4]  # version 1 after version 2: recorded, not re-scored
    assert [i for i, _ in out.rejections] == [2]
    assert isinstance(batch[2].item, Rejection)
    # A later batch: the same filing again is a replay, never a second result.
    again = screen_batch(_inbound([clean[0]]), ctx, NOW)
    assert again.replays == [0] and not again.results


def test_versions_in_one_batch_are_screened_in_order(clean: list[dict]) -> None:
    ctx = build_context(Settings.load())
    v1, v2 = clean[2], dict(clean[2], version=2)
    out = screen_batch(_inbound([v1, v2]), ctx, NOW)
    assert [r.version for _, r in out.results] == [1, 2]
    last = ctx.last_screened[v1["manifest_id"]]
    assert isinstance(last, FilingFingerprint)
    assert last == FilingFingerprint.of(msgspec.convert(v2, Manifest))


def _late_amendment(result) -> dict[str, str] | None:
    return next((h.evidence for h in result.hits if h.rule_id == "LATE_AMENDMENT"), None)


def test_an_amendment_is_compared_with_the_version_remembered_from_an_earlier_batch(clean: list[dict]) -> None:
    """LATE_AMENDMENT through the amendment memory: a later batch's amendment after
    departure fires when it changes parties or goods, not when it changes neither."""
    ctx = build_context(Settings.load())
    original = clean[3]
    after_departure = original["route"]["departure_at"][:10] + "T23:59:59Z"  # the day it left
    same = dict(original, version=2, filed_at=after_departure)
    goods = [dict(original["goods"][0], description=original["goods"][0]["description"] + " spare parts")]
    changed_goods = dict(original, version=3, filed_at=after_departure, goods=goods + original["goods"][1:])
    renamed = dict(original["parties"][0], name=original["parties"][0]["name"] + " Trading")
    changed_parties = dict(original, version=4, filed_at=after_departure, parties=[renamed, *original["parties"][1:]])
    screen_batch(_inbound([original]), ctx, NOW)
    unchanged = screen_batch(_inbound([same]), ctx, NOW)
    assert [r.version for _, r in unchanged.results] == [2]
    assert _late_amendment(unchanged.results[0][1]) is None
    for amendment in (changed_goods, changed_parties):
        out = screen_batch(_inbound([amendment]), ctx, NOW)
        assert [r.version for _, r in out.results] == [amendment["version"]]
        evidence = _late_amendment(out.results[0][1])
        assert evidence is not None and evidence["compared_with_previous"] == "yes"
    # Forgotten (beyond the bound): judged as "previous version unknown", still scored.
    ctx.last_screened.clear()
    out = screen_batch(_inbound([dict(same, version=5)]), ctx, NOW)
    evidence = _late_amendment(out.results[0][1])
    assert evidence is not None and evidence["compared_with_previous"] == "no"


def test_amendment_memory_forgets_the_oldest_first(clean: list[dict]) -> None:
    ctx = build_context(Settings.load())
    ctx.keep_last_screened = 3
    screen_batch(_inbound(clean[:5]), ctx, NOW)
    assert list(ctx.last_screened) == [m["manifest_id"] for m in clean[2:5]]
