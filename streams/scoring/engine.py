"""Score a batch: every rule is a polars expression over the batch's frames; the hits they
produce are gathered into one explainable result per manifest.

Why it is shaped this way: a polars query costs ~0.1-0.2 ms whatever its size (planning,
one pass per operation), so at the worker's batch of 2,000 manifests sixty small queries
(one or more per rule) cost more than the rules themselves. The rules therefore add their
flags and the figures their evidence needs as columns of a few lazy queries (goods lines,
manifests, route countries, descriptions), which run together in one
``pl.collect_all`` (shared parts computed once) and come back filtered to the rows where
something fired. Expressions and lookup tables are compiled once per ruleset and
reference (:class:`_Plan`). Hits are sparse: Python walks only the flagged rows to write
reasons and evidence, rule by rule, so each result lists its hits in rule order.

>>> results = score_batch(enriched, Ruleset.load(DEFAULT_RULESET), reference, now)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import polars as pl

from enrichers.enriched import EnrichedManifest
from schemas.model import Hit, ScreeningResult, WatchlistMatch
from streams.scoring.features import BatchFrames, extract, with_route_lists
from streams.scoring.lanes import draw_pairs, draws
from streams.scoring.reference import ScoringReference, singular
from streams.scoring.ruleset import LANE_ORDER, DescriptionMismatchRule, Ruleset

_LANES_BY_ORDER = {0: "GREEN", 1: "YELLOW", 2: "RED"}


class AddHit(Protocol):
    """Record one hit for manifest ``i`` of the batch (and raise its lane to ``lane``)."""

    def __call__(
        self, i: int, rule_id: str, weight: float, reason: str, evidence: dict[str, str], lane: str | None = None
    ) -> None: ...


_MAD_SCALE = 1.4826  # MAD -> standard deviation for a normal distribution
_LIST_FIELDS = {"transshipment_ports", "transshipment_countries", "routing_countries"}
_FALSE = pl.lit(False)
_AS_WRITTEN = pl.QueryOptFlags.none()  # see _run_queries


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _sanctions_list(list_id: str, prefixes: list[str]) -> bool:
    return not prefixes or any(list_id.startswith(p) for p in prefixes)


def _rows(df: pl.DataFrame | None) -> list[dict[str, Any]]:
    return df.rows(named=True) if df is not None and df.height else []


# ------------------------------------------------------------------ compiled plan


class _Benchmarks:
    """UNDERVALUATION's value benchmarks as a lookup: the benchmark a goods line is judged
    by is the first with at least ``min_samples`` observations of its HS subheading and
    origin, its subheading, or its chapter. Resolved once per (HS code, origin) seen and
    remembered (traffic repeats them): a dict lookup per line costs less than the three
    joins it replaces."""

    _MAX_KEYS = 200_000

    def __init__(self, table: pl.DataFrame, min_samples: int):
        usable = table.filter(pl.col("n") >= min_samples)
        self.columns = [usable.get_column(c) for c in ("level", "median_log_vpk", "mad_log_vpk")]
        self._values = [column.to_list() for column in self.columns]
        self._by_origin: dict[tuple[str, str], int] = {}
        self._by_hs6: dict[str, int] = {}
        self._by_chapter: dict[str, int] = {}
        for row, (level, hs, origin) in enumerate(usable.select("level", "hs", "origin").iter_rows()):
            if level == "hs6_origin":
                self._by_origin.setdefault((hs, origin), row)
            elif level == "hs6":
                self._by_hs6.setdefault(hs, row)
            elif level == "chapter":
                self._by_chapter.setdefault(hs, row)
        self._memo: dict[tuple[str, str], int | None] = {}

    def _resolve(self, key: tuple[str, str]) -> int | None:
        hs, origin = key
        row = self._by_origin.get((hs[:6], origin))
        if row is None:
            row = self._by_hs6.get(hs[:6])
        if row is None:
            row = self._by_chapter.get(hs[:2])
        if len(self._memo) > self._MAX_KEYS:
            self._memo.clear()
        self._memo[key] = row
        return row

    def columns_for(self, frames: BatchFrames) -> list[pl.Series]:
        """The benchmark of each goods line: its level, median and MAD of log(USD/kg)
        (null: none with enough observations). Looked up in Python: the lines' rows are
        resolved here anyway, and three gathers in the batch's query cost more."""
        memo, resolve = self._memo, self._resolve
        keys = zip(frames.goods_lists["hs_code"], frames.goods_lists["origin"], strict=True)
        rows = [memo[k] if k in memo else resolve(k) for k in keys]
        return [
            pl.Series(name, [None if r is None else values[r] for r in rows], dtype=column.dtype)
            for name, column, values in zip(("level", "med", "mad"), self.columns, self._values, strict=True)
        ]




@dataclass
class _Plan:
    """What a ruleset and a reference compile to: the expressions of every rule and the
    lookup tables they join, built once and reused for every batch."""

    ruleset: Ruleset
    tables: tuple[pl.DataFrame, ...]  # the reference tables this plan was built from
    goods_derived: list[pl.Expr]
    goods_levels: list[pl.Expr]  # dual_use, dual_use_watch, from du_prefix (derived first: the regex runs once)
    usd_rates: dict[str, float]  # currency -> USD per unit (a look-up per line: cheaper than a join per batch)
    dual_use: dict[str, tuple[str, str | None]]  # listed prefix -> (category, note)
    benchmarks: _Benchmarks | None
    undervaluation: list[pl.Expr]  # z, ratio of each line (from its benchmark's "med" and "mad" columns)
    line_flags: list[pl.Expr]  # per goods line, each aliased; rows where any is true come back
    line_columns: list[str]
    manifest_columns: list[pl.Expr | str]
    manifest_flag: pl.Expr
    country_risk: dict[str, tuple[str, float]]  # country -> (risk class, class weight > 0)
    usual_hubs: tuple[list[str], list[str]] | None  # "LOADING_COUNTRY|PORT" usual pairs, ports usual from anywhere
    # membership tests of the batch's queries, built once (a test of a list costs 40-70 us
    # to build, every batch)
    risky_country: pl.Expr  # "country" is in country_risk (EMBARGO_ROUTE)
    profiled_chapter: pl.Expr  # "hs_chapter" has keyword profiles (DESCRIPTION_MISMATCH)
    hub_country: pl.Expr  # "country" is a diversion hub (ROUTE_ANOMALY)
    criteria_fields: set[str] = field(default_factory=set)


def _plan(ruleset: Ruleset, reference: ScoringReference) -> _Plan:
    """The compiled plan for this ruleset and reference (cached on the reference, rebuilt
    when the ruleset or one of the reference tables is another object)."""
    tables = (reference.benchmarks, reference.dual_use, reference.country_risk)
    memo = reference.cache("PLAN", (), max_entries=8)
    plan = memo.get(id(ruleset))
    if plan is None or plan.ruleset is not ruleset or any(a is not b for a, b in zip(plan.tables, tables, strict=True)):
        plan = _compile(ruleset, reference, tables)
        memo[id(ruleset)] = plan
    return plan


def _compile(ruleset: Ruleset, reference: ScoringReference, tables: tuple[pl.DataFrame, ...]) -> _Plan:
    rules = ruleset.rules
    rates = ruleset.spec.usd_rates
    goods_derived = [
        pl.col("hs_code").str.slice(0, 2).alias("hs_chapter"),
        pl.col("hs_code").str.slice(0, 4).alias("hs_heading"),
        pl.col("hs_code").str.slice(0, 6).alias("hs_subheading"),
        pl.col("description").str.to_lowercase().alias("description"),
    ]
    # The longest listed prefix of the HS code, and its level: two is_in tests on the
    # extracted prefix (a join with the list costs more); category and note are looked up
    # for the lines that fire.
    du = reference.dual_use
    dual_use = {p: (c, n) for p, c, n in du.select("prefix", "category", "note").iter_rows()}
    if reference.dual_use_pattern:
        levels = {level: du.filter(pl.col("level") == level)["prefix"].to_list() for level in ("controlled", "watch")}
        goods_derived.append(pl.col("hs_code").str.extract(reference.dual_use_pattern, 1).alias("du_prefix"))
        goods_levels = [
            pl.col("du_prefix").is_in(levels["controlled"]).fill_null(False).alias("dual_use"),
            pl.col("du_prefix").is_in(levels["watch"]).fill_null(False).alias("dual_use_watch"),
        ]
    else:
        goods_derived.append(pl.lit(None, pl.Utf8).alias("du_prefix"))
        goods_levels = [pl.lit(False).alias("dual_use"), pl.lit(False).alias("dual_use_watch")]

    line_flags: list[pl.Expr] = []
    line_columns = ["i", "line"]
    ra = rules.active("ROUTE_ANOMALY")
    if rules.active("DUAL_USE_GOODS") is not None or (ra is not None and ra.hub_with_dual_use):
        line_flags.append(pl.col("dual_use").alias("f_dual_use"))
        line_columns += ["hs_code", "du_prefix"]

    uv = rules.active("UNDERVALUATION")
    benchmarks = None
    undervaluation: list[pl.Expr] = []
    if uv is not None and not reference.benchmarks.is_empty():
        benchmarks = _Benchmarks(reference.benchmarks, uv.min_samples)
        med, mad = pl.col("med"), pl.col("mad")
        undervaluation = [
            ((pl.col("value_per_kg").log() - med) / (mad.clip(lower_bound=0.05) * _MAD_SCALE)).alias("z"),
            (pl.col("value_per_kg").log() - med).exp().alias("ratio"),
        ]
        line_flags.append(
            (
                pl.col("value_per_kg").is_not_null() & (pl.col("gross_weight_kg") > 0) & pl.col("med").is_not_null()
                & (pl.col("z") <= -uv.min_robust_z) & (pl.col("ratio") <= uv.max_ratio)
            ).alias("f_under")
        )
        line_columns += ["hs_subheading", "origin", "value_per_kg", "med", "z", "ratio", "level"]

    wa = rules.active("WEIGHT_ANOMALY")
    if wa is not None:
        kpp = pl.col("gross_weight_kg") / pl.col("packages")
        line_flags += [
            ((pl.col("packages") > 0) & ((kpp < wa.min_kg_per_package) | (kpp > wa.max_kg_per_package))).alias("f_kpp"),
        ]
        line_columns += ["gross_weight_kg", "packages"]
    line_flags += [expr.alias(f"f_c{k}") for k, (_, expr) in enumerate(ruleset.criteria_exprs)]
    if ruleset.rfi_exprs:
        line_flags.append(pl.any_horizontal([e for _, e in ruleset.rfi_exprs]).alias("f_rfi"))

    manifest_columns, manifest_flag = _manifest_expressions(ruleset)

    ee = rules.active("EMBARGO_ROUTE")
    country_risk = (
        {c: (k, w) for c, k, w in reference.country_risk.select("country", "risk_class", "class_weight").iter_rows() if w > 0}
        if ee is not None else {}
    )

    usual_hubs = None
    if ra is not None and ra.usual_hubs:
        usual_hubs = (
            sorted({f"{c}|{h}" for c, hs in ra.usual_hubs.items() for h in hs}),
            sorted(set(ra.usual_hubs.get("*", []))),
        )
    return _Plan(
        ruleset=ruleset,
        tables=tables,
        goods_derived=goods_derived,
        goods_levels=goods_levels,
        usd_rates={currency: float(rate) for currency, rate in rates.items()},
        dual_use=dual_use,
        benchmarks=benchmarks,
        undervaluation=undervaluation,
        line_flags=line_flags,
        line_columns=list(dict.fromkeys(line_columns)),
        manifest_columns=manifest_columns,
        manifest_flag=manifest_flag,
        country_risk=country_risk,
        usual_hubs=usual_hubs,
        risky_country=pl.col("country").is_in(list(country_risk)),
        profiled_chapter=pl.col("hs_chapter").is_in(list(reference.profiled_chapters)),
        hub_country=pl.col("country").is_in(sorted(reference.hubs)),
        criteria_fields=ruleset.criteria_fields,
    )


def _manifest_expressions(ruleset: Ruleset) -> tuple[list[pl.Expr | str], pl.Expr]:
    """LATE_FILING, LATE_AMENDMENT, the per-container part of WEIGHT_ANOMALY, the
    circuitous part of ROUTE_ANOMALY and WATCHLIST_PARTY's threshold, as columns of the
    manifest frame (with the figures their evidence quotes)."""
    rules = ruleset.rules
    lf_rule, la_rule, wa_rule = rules.active("LATE_FILING"), rules.active("LATE_AMENDMENT"), rules.active("WEIGHT_ANOMALY")
    ra, wl = rules.active("ROUTE_ANOMALY"), rules.active("WATCHLIST_PARTY")

    def per_mode(hours: dict) -> pl.Expr:
        expr = pl.lit(None, pl.Float64)
        for mode, h in hours.items():
            expr = pl.when(pl.col("mode") == mode).then(pl.lit(float(h))).otherwise(expr)
        return expr

    # LATE_FILING is judged on the first known filing: the original's time for an amendment
    nd = per_mode(lf_rule.before_departure_h) if lf_rule else pl.lit(None, pl.Float64)
    na = per_mode(lf_rule.before_arrival_h) if lf_rule else pl.lit(None, pl.Float64)
    al = pl.col("arrival_lead_h") + pl.col("first_filed_lead_h") - pl.col("lead_time_h")
    late_dep = (pl.col("first_filed_lead_h") < nd).fill_null(False) if lf_rule else _FALSE
    late_arr = (al < na).fill_null(False) if lf_rule else _FALSE
    changed = pl.col("amendment_changed")
    if la_rule is not None and la_rule.when_previous_unknown:
        changed = changed.fill_null(True)
    late_amend = ((pl.col("version") > 1) & changed.fill_null(False) & (pl.col("lead_time_h") < 0)) if la_rule else _FALSE
    kpc = pl.col("total_gross_weight_kg") / pl.col("container_count")
    odd_box = (
        (pl.col("container_count") > 0) & ((kpc > wa_rule.max_kg_per_container) | (kpc < wa_rule.min_kg_per_container))
        if wa_rule else _FALSE
    )
    circuitous = (pl.col("transshipment_count") > ra.max_transshipments) if ra else _FALSE
    watched = (pl.col("watchlist_score") >= wl.min_match_score) if wl else _FALSE
    columns: list[pl.Expr | str] = [
        "i", "mode", "version", "lead_time_h", "first_filed_lead_h", "amendment_changed", "container_count",
        nd.alias("nd"), na.alias("na"), al.alias("al"), kpc.alias("kpc"),
        late_dep.alias("late_dep"), late_arr.alias("late_arr"), late_amend.alias("late_amend"),
        odd_box.alias("odd_box"), circuitous.alias("circuitous"), watched.alias("watched"),
    ]
    flag = (
        pl.col("late_dep") | pl.col("late_arr") | pl.col("late_amend") | pl.col("odd_box")
        | pl.col("circuitous") | pl.col("watched")
    )
    return columns, flag


# ------------------------------------------------------------------ the batch's queries


@dataclass
class _Fired:
    """What came back from the batch's one collect: rows where something fired."""

    lines: pl.DataFrame | None = None  # goods lines with a line flag (f_*), in batch order
    manifests: pl.DataFrame | None = None  # manifests with a manifest flag
    embargo: pl.DataFrame | None = None  # worst risky country per manifest
    described: pl.DataFrame | None = None  # lines in profiled chapters: i, line, hs_code, hs_chapter, description
    pairs: pl.DataFrame | None = None  # their distinct (hs_chapter, description)
    hub_rows: pl.DataFrame | None = None  # i, country: manifests with dual-use goods via a diversion hub
    odd_hubs: pl.DataFrame | None = None  # i, port: transshipment hubs not usual for the lane

    # the flagged rows as dicts, made once: several rules walk them
    line_rows: list[dict[str, Any]] = field(init=False)
    manifest_rows: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.line_rows = _rows(self.lines)
        self.manifest_rows = _rows(self.manifests)


def _run_queries(frames: BatchFrames, plan: _Plan, ruleset: Ruleset, reference: ScoringReference) -> _Fired:
    rules = ruleset.rules
    rates = plan.usd_rates
    looked_up = [
        pl.Series("usd_rate", [rates.get(c) for c in frames.goods_lists["value_currency"]], dtype=pl.Float64)
    ]
    if plan.benchmarks is not None:
        looked_up += plan.benchmarks.columns_for(frames)
    g = (
        frames.goods.hstack(looked_up)
        .lazy()
        .with_columns(*plan.goods_derived, (pl.col("value_amount") * pl.col("usd_rate")).alias("value_usd"))
        .with_columns((pl.col("value_usd") / pl.col("gross_weight_kg")).alias("value_per_kg"), *plan.goods_levels)
    )
    queries: dict[str, pl.LazyFrame] = {}

    if plan.line_flags:
        lines = g
        fields = plan.criteria_fields
        if fields:
            manifests = with_route_lists(frames) if fields & _LIST_FIELDS else frames.manifests
            goods_columns = set(frames.goods.columns) | {
                "hs_chapter", "hs_heading", "hs_subheading", "value_usd", "value_per_kg", "dual_use", "dual_use_watch",
            }
            # the line's manifest is row i of the manifest frame: a gather, not a join
            lines = lines.with_columns(
                pl.lit(manifests.get_column(c)).gather(pl.col("i")).alias(c)
                for c in manifests.columns if c in fields and c not in goods_columns
            )
        if plan.benchmarks is not None:
            lines = lines.with_columns(plan.undervaluation)
        flags = [f.meta.output_name() for f in plan.line_flags]
        queries["lines"] = (
            lines.with_columns(plan.line_flags)
            .filter(pl.any_horizontal(flags))
            .select(*plan.line_columns, *flags)
        )

    m_frame = frames.manifests
    m = m_frame.lazy()
    queries["manifests"] = m.select(plan.manifest_columns).filter(plan.manifest_flag)

    rc = frames.route_countries.lazy() if frames.route_countries.height else None
    ee = rules.active("EMBARGO_ROUTE")
    if plan.country_risk:
        # the places of each manifest in a country at risk (few): which is worst is
        # decided over these rows in Python
        risky = plan.risky_country
        parts: list[pl.LazyFrame] = []
        if "origin" in ee.check:
            parts.append(g.select("i", pl.lit("origin").alias("where"), pl.col("origin").alias("country")).filter(risky))
        for where in ("loading", "discharge"):
            if where in ee.check:
                parts.append(
                    m.select("i", pl.lit(where).alias("where"), pl.col(f"{where}_country").alias("country")).filter(risky)
                )
        wanted = [w for w in ("transshipment", "routing") if w in ee.check]
        if wanted and rc is not None:
            parts.append(rc.filter(pl.col("where").is_in(wanted) & risky).select("i", "where", "country"))
        if parts:
            queries["embargo"] = pl.concat(parts, how="vertical")

    dm = rules.active("DESCRIPTION_MISMATCH")
    if dm is not None and not reference.keywords.is_empty():
        described = g.filter(plan.profiled_chapter).select(
            "i", "line", "hs_code", "hs_chapter", "description"
        )
        queries["described"] = described
        queries["pairs"] = described.select("hs_chapter", "description").unique()

    ra = rules.active("ROUTE_ANOMALY")
    if ra is not None and rc is not None:
        if ra.hub_with_dual_use:
            # diversion hubs on the route; _route_anomaly keeps those of manifests with dual-use goods
            queries["hub_rows"] = rc.filter(plan.hub_country).select("i", "country")
        if plan.usual_hubs is not None:
            usual, anywhere = plan.usual_hubs
            # the route row's manifest is row i of the manifest frame: gathered, not joined
            lane_of = pl.lit(m_frame.get_column("loading_country")).gather(pl.col("i"))
            mode_of = pl.lit(m_frame.get_column("mode")).gather(pl.col("i"))
            queries["odd_hubs"] = rc.filter(
                (pl.col("where") == "transshipment")
                & mode_of.is_in(ra.usual_hubs_modes)
                & ~pl.concat_str(lane_of, pl.lit("|"), pl.col("port")).is_in(usual)
                & ~pl.col("port").is_in(anywhere)
            ).select("i", "port")
    # The in-memory engine: polars' default (streaming) costs ~1 ms more per batch to set
    # up, and a batch is a few thousand rows at most. No query optimisation either: the
    # plans are small and over frames in memory, and optimising them took ~1.1 of ~2.2 ms
    # per batch whatever its size (2026-11-29: 25-2,000 rows, same results).
    collected = pl.collect_all(list(queries.values()), engine="in-memory", optimizations=_AS_WRITTEN)
    return _Fired(**dict(zip(queries, collected, strict=True)))


def score_batch(
    batch: list[EnrichedManifest],
    ruleset: Ruleset,
    reference: ScoringReference,
    now: datetime,
) -> list[ScreeningResult]:
    """Score every enriched manifest of the batch; one result each, in the same order.

    Pure: no I/O, no clock (``now`` is the screening time: ``screened_at``, the date AEO
    certificates must be valid on, and the end of ``latency_ms``).
    """
    if not batch:
        return []
    rules = ruleset.rules
    nt = rules.active("NEW_TRADER")
    tt = rules.active("TRUSTED_TRADER")
    ra = rules.active("ROUTE_ANOMALY")
    frames = extract(
        batch,
        now,
        new_roles=frozenset(nt.roles if nt else ("CONSIGNEE", "CONSIGNOR")),
        trusted_roles=frozenset(tt.roles if tt else ("CONSIGNEE", "CONSIGNOR")),
        count_unidentified=nt.count_unidentified if nt else True,
        route_min_history=ra.min_history if ra else 5,
        route_max_known=ra.max_known_routes if ra else 1_000_000,
        extra=ruleset.criteria_fields,
    )
    n = len(batch)
    # Hits are sparse: plain arrays for every manifest, hit lists only for those with hits.
    scores = [0.0] * n
    min_lane = [0] * n
    hits: dict[int, list[Hit]] = {}

    def add(i: int, rule_id: str, weight: float, reason: str, evidence: dict[str, str], lane: str | None = None) -> None:
        hit = Hit(rule_id, float(weight), reason, evidence)
        if i in hits:
            hits[i].append(hit)
        else:
            hits[i] = [hit]
        scores[i] += weight
        if lane is not None and LANE_ORDER[lane] > min_lane[i]:
            min_lane[i] = LANE_ORDER[lane]

    plan = _plan(ruleset, reference)
    fired = _run_queries(frames, plan, ruleset, reference)
    _watchlist(frames, fired, ruleset, add)
    _embargo_route(fired, plan, ruleset, add)
    _dual_use(fired, plan, ruleset, add)
    _undervaluation(fired, ruleset, add)
    _description_mismatch(fired, ruleset, reference, add)
    _party_rules(frames, ruleset, add)
    _manifest_rules(frames, fired, ruleset, add)
    _route_anomaly(frames, fired, ruleset, add)
    _weight_anomaly(frames, fired, ruleset, add)
    _criteria(fired, ruleset, add)
    rfi = {row["i"] for row in fired.line_rows if row.get("f_rfi")}

    spec = ruleset.spec
    yellow = spec.lanes.thresholds.get("YELLOW", 35.0)
    red = spec.lanes.thresholds.get("RED", 65.0)
    blue = spec.lanes.blue
    rnd = rules.active("RANDOM_SELECTION")
    wl = rules.active("WATCHLIST_PARTY")
    dnl = spec.referrals.dnl
    rfs = spec.referrals.rfs
    version = ruleset.version
    results: list[ScreeningResult] = []
    facts = frames.facts
    ms = [em.manifest for em in batch]
    ids, versions = [m.manifest_id for m in ms], [m.version for m in ms]
    audit: list[float] | None = None
    if rnd is not None and rnd.rate > 0:
        us, audit = draw_pairs(ids, versions, rnd.seed)
        for i, u in enumerate(us):
            if u < rnd.rate:
                add(i, "RANDOM_SELECTION", rnd.weight, f"selected by the random floor ({rnd.rate:.2%})",
                    {"draw": f"{u:.6f}", "rate": _fmt(rnd.rate)}, rnd.lane)
    trusted_max = blue.trusted_max_score
    blue_rate = blue.sample_rate
    if blue_rate > 0 and audit is None:
        audit = draws(ids, versions, blue.seed)
    dnl_score = dnl.min_match_score
    check_dnl = wl is not None or dnl_score <= 1
    rfs_modes = frozenset(rfs.modes)
    rfs_score = rfs.min_score
    for i, em in enumerate(batch):
        m = ms[i]
        score = scores[i]
        score = 100.0 if score > 100.0 else 0.0 if score < 0.0 else score
        order = 2 if score >= red else 1 if score >= yellow else 0
        if min_lane[i] > order:
            order = min_lane[i]
        lane = _LANES_BY_ORDER[order]
        if lane == "GREEN" and (
            (facts[i].trusted and score <= trusted_max)
            or (audit is not None and audit[i] < blue_rate)
        ):
            lane = "BLUE"
        referral = "NONE"
        if check_dnl and em.watchlist_matches:
            strong = [
                x for x in em.watchlist_matches
                if x.score >= dnl_score and _sanctions_list(x.list_id, dnl.lists)
            ]
            if strong and (not dnl.only_before_departure or m.filed_at < m.route.departure_at):
                referral = "DNL"
        if referral == "NONE" and score >= rfs_score and m.mode in rfs_modes:
            referral = "RFS"
        if referral == "NONE" and i in rfi:
            referral = "RFI"
        latency = (now - em.received_at).total_seconds() * 1000.0
        results.append(
            ScreeningResult(
                m.manifest_id, m.version, round(score, 2), lane, referral,  # type: ignore[arg-type]
                hits.get(i, []), em.watchlist_matches, version, now,
                latency if latency > 0.0 else 0.0, em.list_versions,
            )
        )
    return results


# ------------------------------------------------------------------ rules: hits from the fired rows


def _watchlist(frames: BatchFrames, fired: _Fired, ruleset: Ruleset, add: AddHit) -> None:
    rule = ruleset.rules.active("WATCHLIST_PARTY")
    if rule is None:
        return
    for row in fired.manifest_rows:
        if not row["watched"]:
            continue
        i = row["i"]
        ms: list[WatchlistMatch] = [x for x in frames.matches[i] if x.score >= rule.min_match_score]
        best = max(ms, key=lambda x: x.score)
        strong = best.score >= rule.strong_match_score
        add(
            i,
            "WATCHLIST_PARTY",
            rule.weight,
            f"{best.party_role.lower()} matches {best.list_id} entry {best.entry_id} (score {best.score:.2f})"
            + (" - strong match" if strong else ""),
            {
                "party_role": best.party_role,
                "list_id": best.list_id,
                "entry_id": best.entry_id,
                "matched_name": best.matched_name,
                "match_score": f"{best.score:.3f}",
                "matches": str(len(ms)),
            },
            rule.strong_lane if strong else rule.lane,
        )


def _embargo_route(fired: _Fired, plan: _Plan, ruleset: Ruleset, add: AddHit) -> None:
    rule = ruleset.rules.active("EMBARGO_ROUTE")
    if rule is None or fired.embargo is None:
        return
    places: dict[int, list[tuple[str, str]]] = {}  # i -> (where, country), in route order
    for i, where, country in fired.embargo.iter_rows():
        places.setdefault(i, []).append((where, country))
    risk = plan.country_risk
    for i in sorted(places):
        # the heaviest class first; equally heavy places in route order (a stable sort)
        ranked = sorted(places[i], key=lambda p: -risk[p[1]][1])
        where, country = ranked[0]
        risk_class, cw = risk[country]
        everything = ",".join(dict.fromkeys(f"{w}:{c}" for w, c in ranked))
        add(
            i,
            "EMBARGO_ROUTE",
            rule.weight * cw,
            f"{where} country {country} is {risk_class.replace('_', ' ')}",
            {"country": country, "where": where, "risk_class": risk_class, "countries": everything},
            rule.embargoed_lane if risk_class == "embargoed" else rule.lane,
        )


def _dual_use(fired: _Fired, plan: _Plan, ruleset: Ruleset, add: AddHit) -> None:
    rule = ruleset.rules.active("DUAL_USE_GOODS")
    if rule is None:
        return
    first: dict[int, dict[str, Any]] = {}
    count: dict[int, int] = {}
    for row in fired.line_rows:
        if row["f_dual_use"]:
            i = row["i"]
            first.setdefault(i, row)
            count[i] = count.get(i, 0) + 1
    listed = plan.dual_use
    for i, row in first.items():
        line, hs, prefix = row["line"], row["hs_code"], row["du_prefix"]
        category, note = listed[prefix]
        add(
            i,
            "DUAL_USE_GOODS",
            rule.weight,
            f"HS {hs} on line {line} is on the strategic list ({category}: {prefix})",
            {"line": str(line), "hs_code": hs, "listed_prefix": prefix, "category": category,
             "note": note or "", "lines": str(count[i])},
            rule.lane,
        )


def _undervaluation(fired: _Fired, ruleset: Ruleset, add: AddHit) -> None:
    rule = ruleset.rules.active("UNDERVALUATION")
    if rule is None or fired.lines is None or "f_under" not in fired.lines.columns:
        return
    worst: dict[int, dict[str, Any]] = {}  # the line furthest below its benchmark
    for row in fired.line_rows:
        if row["f_under"]:
            i = row["i"]
            if i not in worst or row["z"] < worst[i]["z"]:
                worst[i] = row
    for i, row in worst.items():
        line, hs6, origin, vpk, med_, z, ratio, lvl = (
            row["line"], row["hs_subheading"], row["origin"], row["value_per_kg"], row["med"], row["z"],
            row["ratio"], row["level"],
        )
        add(
            i,
            "UNDERVALUATION",
            rule.weight,
            f"line {line}: {vpk:.2f} USD/kg is {ratio:.0%} of the benchmark for HS {hs6} from {origin}",
            {"line": str(line), "hs_subheading": hs6, "origin": origin, "value_usd_per_kg": _fmt(vpk),
             "benchmark_usd_per_kg": _fmt(math.exp(med_)), "robust_z": f"{z:.2f}", "benchmark_level": lvl},
            rule.lane,
        )


_PAIR_SCHEMA = {"hs_chapter": pl.Utf8, "description": pl.Utf8}


def _description_mismatch(fired: _Fired, ruleset: Ruleset, reference: ScoringReference, add: AddHit) -> None:
    rule = ruleset.rules.active("DESCRIPTION_MISMATCH")
    if rule is None or fired.pairs is None or fired.described is None or fired.pairs.is_empty():
        return
    # Descriptions repeat across batches: judge each (chapter, description) once.
    params = (rule.margin, rule.min_other_score, rule.require_other_chapter, rule.min_tokens, rule.reference_weight)
    verdicts = reference.cache("DESCRIPTION_MISMATCH", params)
    rows = fired.pairs.rows()
    new = [p for p in rows if p not in verdicts]
    if new:
        judged = _judge_descriptions(pl.DataFrame(new, schema=_PAIR_SCHEMA, orient="row"), rule, reference)
        found = {(c, d): (o, w) for c, d, o, w in judged.iter_rows()}
        for p in new:
            verdicts[p] = found.get(p)
    bad = {p: v for p in rows if (v := verdicts.get(p)) is not None}
    if not bad:
        return
    lines = fired.described.filter(pl.col("description").is_in([d for _, d in bad]))
    done: set[int] = set()
    for i, line, hs, chapter, desc in lines.iter_rows():
        verdict = bad.get((chapter, desc))
        if verdict is None or i in done:
            continue
        done.add(i)
        other, word = verdict
        add(
            i,
            "DESCRIPTION_MISMATCH",
            rule.weight,
            f"line {line}: description does not fit HS chapter {hs[:2]}"
            + (f" (reads like chapter {other})" if other else ""),
            {"line": str(line), "hs_code": hs, "description": desc[:120], "declared_chapter": hs[:2],
             "suggested_chapter": other or "", "keyword": word or ""},
            rule.lane,
        )


SCORE_DIGITS = 9  # a description's score per chapter, rounded (see _judge_descriptions)


def _judge_descriptions(pairs: pl.DataFrame, rule: DescriptionMismatchRule, reference: ScoringReference) -> pl.DataFrame:
    """The (chapter, description) pairs that do not fit their chapter, with the chapter
    they read as and the word that says so."""
    tokens = (
        pairs.with_columns(pl.col("description").str.extract_all(r"[a-z]+").alias("word"))
        .explode("word")
        .filter(pl.col("word").is_not_null())
        .with_columns(singular(pl.col("word")).alias("word"))
        .unique()
    )
    key = ["hs_chapter", "description"]
    # How well the description reads as each chapter: the sum of its words' weights there
    # (a word of few chapters weighs more than one of many).
    per_chapter = (
        tokens.join(reference.keywords, on="word", how="inner")
        .group_by(*key, "kw_chapter")
        # rounded: a float sum depends on the order of its terms, which unique() does not
        # keep, and two chapters that tie must tie in every run (the lower one is named)
        .agg(pl.col("w").sum().round(SCORE_DIGITS).alias("s"), pl.col("word").sort_by(["w", "word"], descending=[True, False]).first().alias("kw"))
    )
    if rule.reference_weight > 0:
        # "n.e.c. in chapter 94", "of heading no. 8540": the text names its own chapter
        # (citations after "other than" / "excluding" name what the goods are not)
        cited = (
            pairs.with_columns(
                pl.col("description")
                .str.replace_all(r"(?:other than|excluding|except|not)[^;,()]*", "")
                .str.extract_all(r"(?:chapter|heading|subheading|item)s?(?: no\.?)? (\d{2})")
                .list.eval(pl.element().str.extract(r"(\d{2})$", 1))
                .alias("kw_chapter")
            )
            .explode("kw_chapter")
            .filter(pl.col("kw_chapter").is_not_null())
            .unique()
            .select(*key, "kw_chapter", pl.lit(rule.reference_weight).alias("s"), pl.lit("(cited)").alias("kw"))
        )
        per_chapter = (
            pl.concat([per_chapter, cited], how="vertical_relaxed")
            .group_by(*key, "kw_chapter")
            .agg(pl.col("s").sum().round(SCORE_DIGITS), pl.col("kw").sort_by(["s", "kw"], descending=[True, False]).first())
        )
    declared = per_chapter.filter(pl.col("kw_chapter") == pl.col("hs_chapter")).select(*key, pl.col("s").alias("own"))
    other = (
        per_chapter.filter(pl.col("kw_chapter") != pl.col("hs_chapter"))
        .sort(["s", "kw_chapter"], descending=[True, False])
        .group_by(key, maintain_order=True)
        .agg(pl.first("kw_chapter").alias("other"), pl.first("s").alias("other_s"), pl.first("kw").alias("other_word"))
    )
    counts = tokens.group_by(key).agg(pl.len().alias("tokens"))
    judged = (
        counts.join(declared, on=key, how="left")
        .join(other, on=key, how="left")
        .with_columns(pl.col("own").fill_null(0.0), pl.col("other_s").fill_null(0.0))
    )
    reads_elsewhere = (pl.col("other_s") >= rule.min_other_score) & (pl.col("other_s") >= rule.margin * pl.col("own"))
    fits_nothing = (pl.col("own") == 0) & pl.col("other").is_null() & pl.lit(not rule.require_other_chapter)
    bad = judged.filter((pl.col("tokens") >= rule.min_tokens) & (reads_elsewhere | fits_nothing))
    return bad.select(*key, "other", "other_word")


def _party_rules(frames: BatchFrames, ruleset: Ruleset, add: AddHit) -> None:
    # The party facts are already Python objects, and hits are sparse: a pass over them
    # is cheaper than three polars filters (measured: about 1 us per manifest saved at
    # batches of 2,000).
    rules = ruleset.rules
    nt, pf_rule, tt = rules.active("NEW_TRADER"), rules.active("PRIOR_FINDINGS"), rules.active("TRUSTED_TRADER")
    min_confirmed = pf_rule.min_confirmed if pf_rule is not None else 0
    for i, f in enumerate(frames.facts):
        if nt is not None and f.new_roles:
            roles = f.new_roles
            add(i, "NEW_TRADER", nt.weight, f"{', '.join(r.lower() for r in roles)} without screening history",
                {"roles": ",".join(roles)}, nt.lane)
        if pf_rule is not None and f.prior:
            total = sum(p[2] for p in f.prior)
            if total >= min_confirmed:
                role, trader_id, _ = f.prior[0]
                add(i, "PRIOR_FINDINGS", pf_rule.weight,
                    f"{total} confirmed earlier finding(s) against {role.lower()} {trader_id}",
                    {"trader_ids": ",".join(p[1] for p in f.prior), "confirmed": str(total)}, pf_rule.lane)
        if tt is not None and f.trusted:
            role, trader_id, until = f.trusted[0]
            add(i, "TRUSTED_TRADER", tt.weight, f"{role.lower()} {trader_id} holds a valid AEO certificate (until {until})",
                {"role": role, "trader_id": trader_id, "valid_until": until}, None)


def _manifest_rules(frames: BatchFrames, fired: _Fired, ruleset: Ruleset, add: AddHit) -> None:
    """LATE_FILING and LATE_AMENDMENT hits, and the manifests whose weight per container is
    implausible (WEIGHT_ANOMALY writes that hit)."""
    rules = ruleset.rules
    lf_rule, la_rule = rules.active("LATE_FILING"), rules.active("LATE_AMENDMENT")
    for row in fired.manifest_rows:
        i, mode = row["i"], row["mode"]
        if lf_rule is not None and (row["late_dep"] or row["late_arr"]):
            lead, req = row["first_filed_lead_h"], row["nd"]
            if row["late_dep"]:
                reason = (f"{mode.lower()} filed {-lead:.1f} h after departure" if lead < 0
                          else f"{mode.lower()} filed {lead:.1f} h before departure (minimum {req:g} h)")
                ev = {"mode": mode, "hours_before_departure": f"{lead:.2f}", "required_hours": f"{req:g}"}
            else:
                alead, req = row["al"], row["na"]
                reason = f"{mode.lower()} filed {alead:.1f} h before arrival (minimum {req:g} h)"
                ev = {"mode": mode, "hours_before_arrival": f"{alead:.2f}", "required_hours": f"{req:g}"}
            add(i, "LATE_FILING", lf_rule.weight, reason, ev, lf_rule.lane)
        if la_rule is not None and row["late_amend"]:
            version, lead, known = row["version"], row["lead_time_h"], row["amendment_changed"]
            what = "changes parties or goods" if known else "(previous version not at hand to compare)"
            add(i, "LATE_AMENDMENT", la_rule.weight,
                f"amendment v{version} filed {-lead:.1f} h after departure {what}",
                {"version": str(version), "hours_after_departure": f"{-lead:.2f}",
                 "compared_with_previous": "yes" if known else "no"}, la_rule.lane)
        if row["odd_box"]:
            frames.odd_boxes[i] = (row["container_count"], row["kpc"])


def _route_anomaly(frames: BatchFrames, fired: _Fired, ruleset: Ruleset, add: AddHit) -> None:
    rule = ruleset.rules.active("ROUTE_ANOMALY")
    if rule is None:
        return
    via: dict[int, list[str]] = {}
    if fired.hub_rows is not None and fired.hub_rows.height:
        dual_use = {row["i"] for row in fired.line_rows if row.get("f_dual_use")}
        for i, c in fired.hub_rows.iter_rows():
            if i in dual_use:
                via.setdefault(i, []).append(c)
    # Transshipment hubs not usual for the lane (the loading country's list, or "*")
    odd: dict[int, list[str]] = {}
    if fired.odd_hubs is not None:
        for i, port in fired.odd_hubs.iter_rows():
            odd.setdefault(i, []).append(port)
        odd = {i: ps for i, ps in odd.items() if len(ps) >= rule.min_unusual_hubs}
    circuitous = {row["i"] for row in fired.manifest_rows if row["circuitous"]}
    facts = frames.facts
    unusual = {i for i, f in enumerate(facts) if f.route_unusual is not None}
    targets = sorted(unusual | circuitous | via.keys() | odd.keys())
    if not targets:
        return
    picked = frames.manifests.select("loading_port", "discharge_port", "transshipment_count")[targets]
    for i, (lp, dp, tcount) in zip(targets, picked.iter_rows(), strict=True):
        reasons = []
        ev = {"route": f"{lp}>{dp}", "transshipments": str(tcount)}
        if i in unusual:
            tid, route, n = facts[i].route_unusual  # type: ignore[misc]
            reasons.append(f"route {route} never used by trader {tid} in {n} shipments")
            ev["trader_id"] = tid
        if i in odd:
            ev["unusual_hubs"] = ",".join(odd[i])
            reasons.append(f"transshipment via {ev['unusual_hubs']}, not usual from {lp[:2]}")
        if i in circuitous:
            reasons.append(f"{tcount} transshipments (more than {rule.max_transshipments})")
        if i in via:
            hubs_used = ",".join(sorted(set(via[i])))
            reasons.append(f"dual-use goods routed via diversion hub {hubs_used}")
            ev["hubs"] = hubs_used
        add(i, "ROUTE_ANOMALY", rule.weight, "; ".join(reasons), ev, rule.lane)


def _weight_anomaly(frames: BatchFrames, fired: _Fired, ruleset: Ruleset, add: AddHit) -> None:
    rule = ruleset.rules.active("WEIGHT_ANOMALY")
    if rule is None:
        return
    per_line: dict[int, tuple[int, float]] = {}
    for row in fired.line_rows:
        if row["f_kpp"] and row["i"] not in per_line:
            per_line[row["i"]] = (row["line"], row["gross_weight_kg"] / row["packages"])
    per_box = frames.odd_boxes  # found by _manifest_rules
    for i in sorted(per_line.keys() | per_box.keys()):
        reasons, ev = [], {}
        if i in per_line:
            line, k = per_line[i]
            reasons.append(f"line {line}: {k:.3g} kg per package")
            ev.update({"line": str(line), "kg_per_package": _fmt(k)})
        if i in per_box:
            c, k = per_box[i]
            reasons.append(f"{k:.0f} kg per container over {c} container(s)")
            ev.update({"containers": str(c), "kg_per_container": _fmt(k)})
        add(i, "WEIGHT_ANOMALY", rule.weight, "; ".join(reasons), ev, rule.lane)


def _criteria(fired: _Fired, ruleset: Ruleset, add: AddHit) -> None:
    """Analyst criteria: a manifest meets one when any of its goods lines does (the
    first such line is the evidence)."""
    if not ruleset.criteria_exprs or fired.lines is None:
        return
    rows = fired.line_rows
    for k, (crit, _) in enumerate(ruleset.criteria_exprs):
        flag = f"f_c{k}"
        seen: set[int] = set()
        for row in rows:
            i = row["i"]
            if row[flag] and i not in seen:
                seen.add(i)
                add(i, crit.id, crit.weight, crit.reason or f"meets criterion {crit.id}",
                    {"criterion": crit.when, "line": str(row["line"])}, crit.lane)
