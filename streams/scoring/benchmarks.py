"""Value benchmarks (ASYCUDA's value control file): robust statistics of the declared USD
value per kg, per HS subheading and origin, per subheading, and per HS chapter (the
fallback), computed with polars from archived or generated manifests.

Statistics are on log(USD/kg): the median and the MAD (median absolute deviation), which
a handful of mis-declared lines in the history cannot drag the way a mean and standard
deviation would.

>>> goods = goods_frame(manifests)  # doctest: +SKIP
>>> table = compute_benchmarks(goods, usd_rates={"USD": 1.0, "EUR": 1.08})  # doctest: +SKIP
>>> table.write_csv("cargowatch/defaults/value_benchmarks.csv")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from schemas.model import Manifest
from streams.scoring.reference import BENCHMARK_SCHEMA

GOODS_COLUMNS = {
    "hs_code": pl.Utf8,
    "origin_country": pl.Utf8,
    "gross_weight_kg": pl.Float64,
    "value_amount": pl.Float64,
    "value_currency": pl.Utf8,
}


def goods_frame(manifests: Iterable[Manifest]) -> pl.DataFrame:
    """One row per goods line with the columns the benchmarks need."""
    cols: dict[str, list] = {k: [] for k in GOODS_COLUMNS}
    for m in manifests:
        for g in m.goods:
            cols["hs_code"].append(g.hs_code)
            cols["origin_country"].append(g.origin_country)
            cols["gross_weight_kg"].append(g.gross_weight_kg)
            cols["value_amount"].append(g.value_amount)
            cols["value_currency"].append(g.value_currency)
    return pl.DataFrame(cols, schema=GOODS_COLUMNS)


def compute_benchmarks(
    goods: pl.DataFrame | pl.LazyFrame,
    usd_rates: dict[str, float],
    min_samples: int = 5,
) -> pl.DataFrame:
    """Benchmarks table (``BENCHMARK_SCHEMA``) from goods lines with ``hs_code``,
    ``origin_country``, ``gross_weight_kg``, ``value_amount``, ``value_currency``.

    Lines in a currency without a rate, or without a positive weight or value, are left
    out. Groups with fewer than ``min_samples`` lines are dropped (the scoring rule has
    its own, usually higher, minimum).

    >>> df = pl.DataFrame({"hs_code": ["851712"] * 5, "origin_country": ["CN"] * 5,
    ...     "gross_weight_kg": [1.0] * 5, "value_amount": [10.0, 10, 10, 20, 5], "value_currency": ["USD"] * 5})
    >>> b = compute_benchmarks(df, {"USD": 1.0})
    >>> b.filter(pl.col("level") == "hs6")["n"].item(), round(b["median_log_vpk"][0], 3)
    (5, 2.303)
    """
    lf = goods.lazy() if isinstance(goods, pl.DataFrame) else goods
    base = (
        lf.with_columns(
            pl.col("value_currency").replace_strict(usd_rates, default=None, return_dtype=pl.Float64).alias("rate"),
        )
        .filter(
            pl.col("rate").is_not_null() & (pl.col("gross_weight_kg") > 0) & (pl.col("value_amount") > 0)
        )
        .select(
            pl.col("hs_code").str.slice(0, 6).alias("hs6"),
            pl.col("hs_code").str.slice(0, 2).alias("chapter"),
            pl.col("origin_country").alias("origin"),
            (pl.col("value_amount") * pl.col("rate") / pl.col("gross_weight_kg")).log().alias("lv"),
        )
    )

    def stats(keys: list[str], level: str, hs: str, origin: pl.Expr) -> pl.LazyFrame:
        return (
            base.group_by(keys)
            .agg(
                pl.len().alias("n"),
                pl.col("lv").median().alias("median_log_vpk"),
                (pl.col("lv") - pl.col("lv").median()).abs().median().alias("mad_log_vpk"),
            )
            .filter(pl.col("n") >= min_samples)
            .select(
                pl.lit(level).alias("level"),
                pl.col(hs).alias("hs"),
                origin.alias("origin"),
                pl.col("n").cast(pl.Int64),
                "median_log_vpk",
                "mad_log_vpk",
            )
        )

    frames = [
        stats(["hs6", "origin"], "hs6_origin", "hs6", pl.col("origin")),
        stats(["hs6"], "hs6", "hs6", pl.lit("", pl.Utf8)),
        stats(["chapter"], "chapter", "chapter", pl.lit("", pl.Utf8)),
    ]
    out = pl.concat(pl.collect_all(frames), how="vertical")
    return out.select([pl.col(c).cast(t) for c, t in BENCHMARK_SCHEMA.items()]).sort(["level", "hs", "origin"])


def route_profiles(manifests: Iterable[Manifest], min_share: float = 0.005) -> dict[str, list[str]]:
    """Usual transshipment hubs per loading country: hubs called at by at least
    ``min_share`` of the sea filings loaded in that country (for ROUTE_ANOMALY's
    ``usual_hubs``)."""
    sea = [m for m in manifests if m.mode == "SEA"]
    rows = [(m.route.loading_port[:2], hub) for m in sea for hub in m.route.transshipment_ports]
    df = pl.DataFrame(rows, schema={"country": pl.Utf8, "hub": pl.Utf8}, orient="row")
    filings = (
        pl.DataFrame({"country": [m.route.loading_port[:2] for m in sea]}, schema={"country": pl.Utf8})
        .group_by("country")
        .len("filings")
    )
    shares = (
        df.filter(pl.col("hub").is_not_null())
        .group_by("country", "hub")
        .len("n")
        .join(filings, on="country")
        .filter(pl.col("n") / pl.col("filings") >= min_share)
        .sort(["country", "n"], descending=[False, True])
    )
    out: dict[str, list[str]] = {}
    for country, hub in shares.select("country", "hub").iter_rows():
        out.setdefault(country, []).append(hub)
    return out


def main(argv: list[str] | None = None) -> None:
    """Recompute the shipped tables: ``python -m streams.scoring.benchmarks --archive DIR``
    (from screened history) or ``--generate N --seed S`` (from clean generated traffic);
    writes value benchmarks CSV and prints the usual transshipment hubs per country."""
    import argparse

    import msgspec
    import yaml

    from cargowatch.settings import DEFAULTS_DIR, Settings
    from streams.scoring.ruleset import DEFAULT_RULESET, Ruleset

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--archive", help="archive directory (screened/**.parquet with manifest_json)")
    parser.add_argument("--generate", type=int, default=0, help="clean generated manifests to use instead")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--out", default=str(DEFAULTS_DIR / "value_benchmarks.csv"))
    parser.add_argument("--min-samples", type=int, default=5)
    args = parser.parse_args(argv)
    if args.archive:
        from streams.scoring.backtest import read_archive

        decoder = msgspec.json.Decoder(Manifest)
        manifests = [decoder.decode(s) for s in read_archive(args.archive)["manifest_json"]]
    elif args.generate:
        from cargowatch.generator.config import GeneratorConfig, RiskRates
        from cargowatch.generator.engine import ManifestGenerator
        from enrichers.refdata import ReferenceData
        from schemas.model import manifest_from_dict

        ref = ReferenceData.load(Settings.load().refdata)
        gen = ManifestGenerator(ref, GeneratorConfig(rates=RiskRates.none()), args.seed)
        manifests = [manifest_from_dict(m) for m, label in gen.records(args.generate) if label.valid]
    else:
        parser.error("give --archive DIR or --generate N")
    rates = Ruleset.load(DEFAULT_RULESET).spec.usd_rates
    table = compute_benchmarks(goods_frame(manifests), rates, min_samples=args.min_samples)
    table.write_csv(args.out)
    print(f"wrote {table.height} benchmarks from {len(manifests)} manifests to {args.out}")
    print(yaml.safe_dump({"usual_hubs": route_profiles(manifests)}, default_flow_style=None, sort_keys=True))


if __name__ == "__main__":
    main()
