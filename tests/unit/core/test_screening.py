"""The batch screening core: every input ends in exactly one outcome."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from cargowatch.generator import GeneratorConfig, RiskRates, generate
from cargowatch.settings import Settings
from enrichers.refdata import ReferenceData
from schemas.intake import read_json_line
from schemas.model import Manifest, Rejection, Source
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
    assert isinstance(last, Manifest) and last.version == 2


def test_amendment_memory_forgets_the_oldest_first(clean: list[dict]) -> None:
    ctx = build_context(Settings.load())
    ctx.keep_last_screened = 3
    screen_batch(_inbound(clean[:5]), ctx, NOW)
    assert list(ctx.last_screened) == [m["manifest_id"] for m in clean[2:5]]
