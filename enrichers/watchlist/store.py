"""The worker's live copy of every list: entries and tombstones in, atomic index swaps out.

Lists are replaced whole. Records of a list arrive one by one (from ``ref.watchlist``);
a *version marker* (entry id ``__version__``) says "version V of list L is complete and
has N entries". Once the store holds all N entries of V, it drops every other entry of L
(entries of the previous version that were removed, even before their tombstones
arrive), rebuilds the screening index in a background thread and swaps it into the
screener atomically. Screening goes on with the old index while the new one builds.

>>> store = WatchlistStore(screener)  # doctest: +SKIP
>>> store.apply(entry); store.apply_marker("un_sc_sanctions", "2026-02-27/9f1c", 1003)  # doctest: +SKIP
>>> store.wait_idle(30)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from enrichers.watchlist.loaders import WatchlistVersion
from enrichers.watchlist.matcher import MatcherConfig, ScreeningIndex, WatchlistScreener
from enrichers.watchlist.normalize import Normalizer
from schemas.model import WatchlistEntry

log = logging.getLogger(__name__)

#: Entry id of the record that closes a list version on the topic.
VERSION_MARKER_ID = "__version__"
#: Identifier type on the marker carrying the number of entries in the version.
ENTRY_COUNT = "ENTRY_COUNT"


@dataclass(frozen=True)
class PendingVersion:
    """A version announced by its marker, waiting for all of its entries."""

    version: str
    entry_count: int


class WatchlistStore:
    """Per-list entry state plus the committed list versions the screener serves."""

    def __init__(
        self,
        screener: WatchlistScreener | None = None,
        normalizer: Normalizer | None = None,
        config: MatcherConfig | None = None,
        on_swap: Callable[[ScreeningIndex], None] | None = None,
    ):
        self.screener = screener or WatchlistScreener()
        self._normalizer = normalizer
        self._config = config
        self._on_swap = on_swap
        self._staged: dict[str, dict[str, WatchlistEntry]] = {}
        self._pending: dict[str, PendingVersion] = {}
        self._committed: dict[str, WatchlistVersion] = {}
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._worker: threading.Thread | None = None
        self.swaps = 0
        self.rebuild_started_at = 0.0  # time.monotonic() of the latest rebuild start
        self.swapped_at = 0.0  # ... and of the latest swap
        self.last_error: BaseException | None = None

    # -- records from the topic -----------------------------------------------------

    def apply(self, entry: WatchlistEntry) -> None:
        """An entry record (the latest value for its key)."""
        with self._lock:
            self._staged.setdefault(entry.list_id, {})[entry.entry_id] = entry
            self._try_commit(entry.list_id)

    def apply_tombstone(self, list_id: str, entry_id: str) -> None:
        """A deleted key: the entry left the list."""
        with self._lock:
            self._staged.get(list_id, {}).pop(entry_id, None)

    def apply_marker(self, list_id: str, version: str, entry_count: int) -> None:
        """Version ``version`` of ``list_id`` is published with ``entry_count`` entries."""
        with self._lock:
            current = self._committed.get(list_id)
            if current is not None and current.version == version:
                return
            self._pending[list_id] = PendingVersion(version, entry_count)
            self._try_commit(list_id)

    def replace_list(self, version: WatchlistVersion) -> None:
        """Install a whole list version at once (files, tests, the offline screen)."""
        with self._lock:
            self._staged[version.list_id] = {e.entry_id: e for e in version.entries}
            self._pending.pop(version.list_id, None)
            self._committed[version.list_id] = version
            self._schedule()

    # -- commit and rebuild ---------------------------------------------------------

    def _try_commit(self, list_id: str) -> None:
        pending = self._pending.get(list_id)
        if pending is None:
            return
        staged = self._staged.get(list_id, {})
        current = [e for e in staged.values() if e.list_version == pending.version]
        if len(current) < pending.entry_count:
            return
        # Whole-list replacement: whatever is not in this version no longer matches.
        self._staged[list_id] = {e.entry_id: e for e in current}
        current.sort(key=lambda e: e.entry_id)
        self._committed[list_id] = WatchlistVersion(list_id, pending.version, current, "topic")
        del self._pending[list_id]
        log.info(
            "watchlist %s version %s complete (%d entries)", list_id, pending.version, len(current)
        )
        self._schedule()

    def _schedule(self) -> None:
        self._idle.clear()
        self._dirty.set()
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(
                target=self._rebuild_loop, name="watchlist-index", daemon=True
            )
            self._worker.start()

    def _rebuild_loop(self) -> None:
        while True:
            with self._lock:
                if not self._dirty.is_set():
                    self._idle.set()
                    self._worker = None
                    return
                self._dirty.clear()
                versions = list(self._committed.values())
            self.rebuild_started_at = time.monotonic()
            try:
                index = ScreeningIndex(versions, self._normalizer, self._config)
            except Exception as exc:  # noqa: BLE001 - keep serving the old index, report
                log.exception("watchlist index rebuild failed; the previous index stays")
                self.last_error = exc
                continue
            self.screener.swap(index)
            self.swapped_at = time.monotonic()
            self.swaps += 1
            if self._on_swap is not None:
                self._on_swap(index)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no rebuild is running or scheduled; False on timeout."""
        return self._idle.wait(timeout)

    def committed_versions(self) -> dict[str, str]:
        """``{list_id: version}`` complete in the store (the index may still be building)."""
        with self._lock:
            return {k: v.version for k, v in self._committed.items()}

    def pending_versions(self) -> dict[str, tuple[str, int, int]]:
        """Announced but incomplete: ``{list_id: (version, entries held, entries expected)}``."""
        with self._lock:
            return {
                k: (
                    p.version,
                    sum(1 for e in self._staged.get(k, {}).values() if e.list_version == p.version),
                    p.entry_count,
                )
                for k, p in self._pending.items()
            }
