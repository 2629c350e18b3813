"""`cargowatch bench`: the performance benchmark (cargowatch/bench/)."""

from __future__ import annotations

from pathlib import Path

import typer

from cargowatch.cli import app, err


@app.command("bench")
def bench_command(
    quick: bool = typer.Option(
        False,
        "--quick",
        help="A smoke run in under a minute (small counts, 20k-name list); not a claim.",
    ),
    json_path: Path | None = typer.Option(
        None, "--json", help="Write the results as JSON here (the plot goes next to it)."
    ),
    count: int | None = typer.Option(
        None, "--count", help="Manifests per contender (default 200,000; --quick 6,000)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes in the group under test (default: the machine's cores)."
    ),
    out_dir: Path = typer.Option(
        Path("bench-results"),
        "--out",
        help="Where the plot and worker logs go when --json is not given.",
    ),
) -> None:
    """Measure, on one broker in one run: the ceiling (raw aiokafka), the baseline (a
    per-event Faust agent) and the cargowatch worker; latency at half the worker's
    maximum; CPU and RSS; the single-core rates of the cores, and the worker's batch
    work alone (screening and the archive's flush per batch size, no broker). Starts a
    local broker unless CARGOWATCH_KAFKA_BOOTSTRAP is set. The full run also updates
    BENCHMARKS.md.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from cargowatch.bench.report import (
        headline,
        plot,
        results_markdown,
        table,
        update_benchmarks_md,
        write_json,
    )
    from cargowatch.bench.runner import BenchConfig, run_bench
    from cargowatch.settings import REPO_ROOT

    cfg = BenchConfig.for_run(quick, count, workers)
    target_dir = json_path.parent if json_path else out_dir
    console = Console()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("starting", total=1.0)

        def step(description: str, fraction: float | None) -> None:
            progress.update(
                task, description=description, completed=fraction if fraction is not None else 0
            )

        try:
            results = run_bench(cfg, step, keep_dir=target_dir / "logs")
        except RuntimeError as exc:
            err.print(f"[red]benchmark failed:[/red] {exc}")
            raise SystemExit(1) from None
    flat = headline(results)
    console.print(table(flat))
    stem = json_path.stem if json_path else ("bench-quick" if quick else "bench")
    plot_path = target_dir / f"{stem}.png"
    plot(flat, plot_path)
    console.print(f"plot: {plot_path}")
    if json_path:
        write_json(flat, json_path)
        console.print(f"json: {json_path}")
    if not quick:
        # BENCHMARKS.md links a copy of the plot kept in the repository (bench-results/
        # is scratch space, ignored by git).
        md = REPO_ROOT / "BENCHMARKS.md"
        rel = Path("docs") / "benchmarks" / "bench.png"
        (REPO_ROOT / rel).parent.mkdir(parents=True, exist_ok=True)
        (REPO_ROOT / rel).write_bytes(plot_path.read_bytes())
        update_benchmarks_md(md, results_markdown(flat, str(rel)))
        console.print(f"updated {md}")
