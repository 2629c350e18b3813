"""The benchmark's pipeline process: the ``cargowatch worker`` app (streams/app.py,
unchanged) with the benchmark's watchlists loaded into its screening context.

``cargowatch worker`` gets its lists from ``ref.watchlist`` at run time; the benchmark
needs a ≥ 300,000-name list in the worker from the first record, so it builds the
context from files instead (``CARGOWATCH_BENCH_WATCHLISTS``: paths separated by
``os.pathsep``). Everything else (settings from ``CARGOWATCH_*``, the Faust app, the
pipeline, the archive sink, /healthz) is the production worker.

    python -m cargowatch.bench.worker
"""

from __future__ import annotations

import os

WATCHLISTS_ENV = "CARGOWATCH_BENCH_WATCHLISTS"


def watchlist_files() -> list[tuple[str, str | None]]:
    """The (path, format to detect) pairs named by ``CARGOWATCH_BENCH_WATCHLISTS``."""
    value = os.environ.get(WATCHLISTS_ENV, "")
    return [(p, None) for p in value.split(os.pathsep) if p]


def main() -> None:
    """Run the worker until SIGTERM (exit code as ``cargowatch worker``)."""
    from cargowatch.settings import Settings
    from streams.app import create_app, run_worker
    from streams.context import build_context

    settings = Settings.load()
    settings.require_kafka()
    ctx = build_context(settings, watchlists=watchlist_files())
    app = create_app(settings, ctx)
    run_worker(app, settings.log_level)


if __name__ == "__main__":
    main()
