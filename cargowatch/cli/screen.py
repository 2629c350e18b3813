"""`cargowatch screen`: the screening core offline, on a file, without Kafka."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cargowatch.cli import app
from cargowatch.cli.options import ConfigOption, load_settings
from schemas.intake import read_json_line
from schemas.model import Source
from streams.context import build_context
from streams.screening import Inbound, screen_batch

BATCH = 5000


@app.command("screen")
def screen_command(
    file: Path = typer.Argument(..., help="Manifests as JSON lines (the contract's JSON form).", exists=True, dir_okay=False),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory: results.jsonl, rejected.jsonl, skipped.jsonl."),
    watchlist: list[Path] = typer.Option(
        [], "--watchlist", "-w", help="Watchlist file or OFAC directory; repeat for several lists."
    ),
    watchlist_format: str | None = typer.Option(
        None, "--watchlist-format", help="ofac|un|eu|ftm|csv; detected from the file when omitted."
    ),
    traders: Path | None = typer.Option(None, "--traders", help="Trader register (CSV with the contract header, or JSONL)."),
    rules: Path | None = typer.Option(None, "--rules", help="Ruleset YAML (default: the shipped ruleset)."),
    config: Path | None = ConfigOption,
) -> None:
    """Screen a file of manifests offline with the same core as the worker.

    Writes DIR/results.jsonl (one screening result per valid manifest version),
    DIR/rejected.jsonl (one rejection with all its errors per invalid input line) and
    DIR/skipped.jsonl (replays and out-of-order amendments, which are not re-scored).
    results + rejected + skipped = input lines. Exits 0 even when some are rejected.
    """
    console = Console(stderr=True)
    settings = load_settings(config)
    ctx = build_context(
        settings,
        watchlists=[(p, watchlist_format) for p in watchlist],
        traders=traders,
        rules=rules,
    )
    out.mkdir(parents=True, exist_ok=True)
    enc = msgspec.json.Encoder()
    counts = {"input": 0, "screened": 0, "rejected": 0, "skipped": 0}
    lanes: dict[str, int] = {}
    total_bytes = file.stat().st_size
    with (
        file.open("rb") as fh,
        (out / "results.jsonl").open("wb") as results_fh,
        (out / "rejected.jsonl").open("wb") as rejected_fh,
        (out / "skipped.jsonl").open("wb") as skipped_fh,
        Progress(
            TextColumn("[bold]screening[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task(file.name, total=total_bytes)
        line_no = 0
        done = False
        while not done:
            batch: list[Inbound] = []
            now = datetime.now(UTC)
            while len(batch) < BATCH:
                line = fh.readline()
                if not line:
                    done = True
                    break
                line_no += 1
                progress.advance(task, len(line))
                if not line.strip():
                    continue
                source = Source(kind="file", file=str(file), line=line_no)
                item = read_json_line(line, source, now)
                batch.append(Inbound(index=len(batch), item=item, received_at=now, source=source))
            if not batch:
                continue
            outcome = screen_batch(batch, ctx, now)
            counts["input"] += len(batch)
            for _, result in outcome.results:
                results_fh.write(enc.encode(result) + b"\n")
                lanes[result.lane] = lanes.get(result.lane, 0) + 1
            for _, rejection in outcome.rejections:
                rejected_fh.write(enc.encode(rejection) + b"\n")
            for kind, indexes in (("replay", outcome.replays), ("out_of_order", outcome.out_of_order)):
                for idx in indexes:
                    m = batch[idx].item
                    skipped_fh.write(
                        enc.encode(
                            {
                                "manifest_id": m.manifest_id,  # type: ignore[union-attr]
                                "version": m.version,  # type: ignore[union-attr]
                                "kind": kind,
                                "source": batch[idx].source,
                            }
                        )
                        + b"\n"
                    )
            counts["screened"] += len(outcome.results)
            counts["rejected"] += len(outcome.rejections)
            counts["skipped"] += len(outcome.replays) + len(outcome.out_of_order)
    table = Table(title=f"cargowatch screen {file.name}")
    table.add_column("")
    table.add_column("manifests", justify="right")
    for key in ("input", "screened", "rejected", "skipped"):
        table.add_row(key, str(counts[key]))
    for lane in ("GREEN", "BLUE", "YELLOW", "RED"):
        table.add_row(f"lane {lane}", str(lanes.get(lane, 0)))
    Console().print(table)
    Console().print(f"wrote {out}/results.jsonl, {out}/rejected.jsonl, {out}/skipped.jsonl")
