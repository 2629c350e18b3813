"""Watchlists on the real broker: `cargowatch watchlist load` publishes a list version,
the worker's feed builds the index, and a new version is swapped in live: the removed
entry stops matching while screening keeps answering with the old index during the swap."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cargowatch.cli import _register, app
from cargowatch.settings import Settings
from enrichers.watchlist import PartyQuery, WatchlistScreener, WatchlistStore
from enrichers.watchlist.feed import WatchlistFeed
from enrichers.watchlist.publish import read_list_state

pytestmark = pytest.mark.integration

HEADER = "list_id,entry_id,name,aliases,country,kind\n"
V1 = HEADER + (
    "nl_national,NL-001,Oceanic Shadow Trading B.V.,OST BV,NL,organization\n"
    "nl_national,NL-002,Pieter van der Berg,,NL,person\n"
    "nl_national,NL-003,NORDIC STAR,IMO 9187629,PA,vessel\n"
)
V2 = HEADER + (
    "nl_national,NL-002,Pieter van der Berg,,NL,person\n"
    "nl_national,NL-003,NORDIC STAR,IMO 9187629,PA,vessel\n"
)
REMOVED = PartyQuery("OCEANIC SHADOW TRADING BV", "CONSIGNEE", "NL")
KEPT = PartyQuery("Pieter van den Berg", "CONSIGNOR", "NL")


def _cli_load(settings: Settings, path: Path, *extra: str) -> None:
    _register()
    env = {
        "CARGOWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CARGOWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "CARGOWATCH_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "CARGOWATCH_REFDATA": settings.refdata,
    }
    result = CliRunner().invoke(
        app, ["watchlist", "load", str(path), *extra], env={**os.environ, **env}
    )
    assert result.exit_code == 0, result.output + repr(result.exception)


async def _wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_list_version_swapped_live(
    settings: Settings, tmp_path: Path, refdata_path: Path
) -> None:
    v1, v2 = tmp_path / "v1.csv", tmp_path / "v2.csv"
    v1.write_text(V1)
    v2.write_text(V2)
    # The UN list rides along so an index rebuild takes long enough to screen through it.
    un = refdata_path / "sanctions" / "un" / "UN_consolidated_2026-02-27.xml"
    await asyncio.to_thread(_cli_load, settings, un, "--format", "un")
    await asyncio.to_thread(_cli_load, settings, v1, "--format", "csv")

    screener = WatchlistScreener()
    store = WatchlistStore(screener)
    feed = WatchlistFeed(settings, store)
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop))
    try:
        await asyncio.wait_for(feed.caught_up.wait(), 60)
        await _wait_for(lambda: set(screener.list_versions()) == {"un_sc_sanctions", "nl_national"})
        v1_version = screener.list_versions()["nl_national"]
        [removed_before, kept_before] = screener.screen_parties([REMOVED, KEPT])
        assert [m.entry_id for m in removed_before] == ["NL-001"]
        assert (
            removed_before[0].list_id == "nl_national"
            and "Oceanic Shadow" in removed_before[0].explanation
        )
        assert [m.entry_id for m in kept_before] == ["NL-002"]

        # Screen continuously while version 2 is published, fed and swapped in.
        # (started, ended, index generation, entry ids). A screen that straddles the swap
        # (the index changed while it ran) belongs to neither side and is left out.
        answers: list[tuple[float, float, int, list[str]]] = []
        errors: list[BaseException] = []
        done = threading.Event()

        def screen_forever() -> None:
            while not done.is_set():
                try:
                    started = time.monotonic()
                    index = screener.index
                    [hits] = screener.screen_parties([REMOVED])
                    ended = time.monotonic()
                    if screener.index is index:
                        ids = [m.entry_id for m in hits]
                        answers.append((started, ended, index.generation, ids))
                    index._cache.clear()  # screen for real every time, not from the cache
                except BaseException as exc:  # noqa: BLE001 - the test reports it
                    errors.append(exc)
                time.sleep(0.001)

        screening = threading.Thread(target=screen_forever, daemon=True)
        screening.start()
        swaps_before = store.swaps
        await asyncio.to_thread(_cli_load, settings, v2, "--format", "csv")
        await _wait_for(
            lambda: screener.list_versions().get("nl_national") not in (None, v1_version)
        )
        assert store.wait_idle(30)
        await asyncio.sleep(0.2)
        done.set()
        screening.join(10)

        assert not errors, errors
        assert store.swaps > swaps_before
        # While the new index was being built, the old one kept answering (and still matched).
        during = [a for a in answers if store.rebuild_started_at <= a[1] < store.swapped_at]
        assert during, "no screening answers while the index was rebuilding"
        assert all(ids == ["NL-001"] for _, _, _, ids in during)
        after = [a for a in answers if a[0] > store.swapped_at]
        assert after and all(ids == [] for _, _, _, ids in after)
        [removed_after, kept_after] = screener.screen_parties([REMOVED, KEPT])
        assert removed_after == []
        assert [m.entry_id for m in kept_after] == ["NL-002"]
        assert "un_sc_sanctions" in screener.list_versions()

        # The topic holds a tombstone for the removed entry and the new version marker.
        state = await read_list_state(settings, "nl_national")
        assert state.entry_ids == {"NL-002", "NL-003"}
        assert state.version == screener.list_versions()["nl_national"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_vessel_imo_short_circuit_from_topic(settings: Settings, tmp_path: Path) -> None:
    v1 = tmp_path / "v1.csv"
    v1.write_text(V1)
    await asyncio.to_thread(_cli_load, settings, v1)
    screener = WatchlistScreener()
    store = WatchlistStore(screener)
    feed = WatchlistFeed(settings, store)
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop))
    try:
        await _wait_for(lambda: "nl_national" in screener.list_versions())
        [hits] = screener.screen_parties([PartyQuery("ANY NAME", "VESSEL", None, "IMO 9187629")])
        assert [m.entry_id for m in hits] == ["NL-003"]
        assert hits[0].score == 1.0 and "IMO" in hits[0].explanation
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
