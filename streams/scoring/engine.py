"""Score a batch: every rule is a polars expression over the batch's frames; the hits they
produce are gathered into one explainable result per manifest.

>>> results = score_batch(enriched, Ruleset.load(DEFAULT_RULESET), reference, now)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Protocol

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


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _sanctions_list(list_id: str, prefixes: list[str]) -> bool:
    return not prefixes or any(list_id.startswith(p) for p in prefixes)


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
    goods = _prepare_goods(frames, ruleset, reference)

    def add(i: int, rule_id: str, weight: float, reason: str, evidence: dict[str, str], lane: str | None = None) -> None:
        hit = Hit(rule_id=rule_id, weight=float(weight), reason=reason, evidence=evidence)
        if i in hits:
            hits[i].append(hit)
        else:
            hits[i] = [hit]
        scores[i] += weight
        if lane is not None and LANE_ORDER[lane] > min_lane[i]:
            min_lane[i] = LANE_ORDER[lane]

    _watchlist(frames, ruleset, add)
    _embargo_route(frames, goods, ruleset, reference, add)
    _dual_use(goods, ruleset, add)
    _undervaluation(goods, ruleset, reference, add)
    _description_mismatch(goods, ruleset, reference, add)
    _party_rules(frames, ruleset, add)
    _manifest_rules(frames, ruleset, add)
    _route_anomaly(frames, goods, ruleset, reference, add)
    _weight_anomaly(frames, goods, ruleset, add)
    _criteria(frames, goods, ruleset, add)
    rfi = _rfi(frames, goods, ruleset)

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
        m = em.manifest
        score = min(100.0, max(0.0, scores[i]))
        order = 2 if score >= red else 1 if score >= yellow else 0
        order = max(order, min_lane[i])
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
        if referral == "NONE" and rfi[i]:
            referral = "RFI"
        results.append(
            ScreeningResult(
                manifest_id=m.manifest_id,
                version=m.version,
                score=round(score, 2),
                lane=lane,  # type: ignore[arg-type]
                referral=referral,  # type: ignore[arg-type]
                hits=hits.get(i, []),
                watchlist_matches=em.watchlist_matches,
                ruleset_version=version,
                screened_at=now,
                latency_ms=max(0.0, (now - em.received_at).total_seconds() * 1000.0),
                list_versions=em.list_versions,
            )
        )
    return results


# ------------------------------------------------------------------ goods preparation


def _prepare_goods(frames: BatchFrames, ruleset: Ruleset, reference: ScoringReference) -> pl.DataFrame:
    rates = ruleset.spec.usd_rates
    g = frames.goods.with_columns(
        pl.col("hs_code").str.slice(0, 2).alias("hs_chapter"),
        pl.col("hs_code").str.slice(0, 4).alias("hs_heading"),
        pl.col("hs_code").str.slice(0, 6).alias("hs_subheading"),
        pl.col("description").str.to_lowercase().alias("description"),
        (
            pl.col("value_amount")
            * pl.col("value_currency").replace_strict(rates, default=None, return_dtype=pl.Float64)
        ).alias("value_usd"),
    ).with_columns(
        (pl.col("value_usd") / pl.col("gross_weight_kg")).alias("value_per_kg"),
    )
    if reference.dual_use_pattern:
        g = g.with_columns(pl.col("hs_code").str.extract(reference.dual_use_pattern, 1).alias("du_prefix"))
        g = g.join(
            reference.dual_use.rename(
                {"prefix": "du_prefix", "note": "du_note", "category": "du_category", "level": "du_level"}
            ),
            on="du_prefix",
            how="left",
        )
    else:
        g = g.with_columns(
            pl.lit(None, pl.Utf8).alias("du_prefix"),
            pl.lit(None, pl.Utf8).alias("du_category"),
            pl.lit(None, pl.Utf8).alias("du_note"),
            pl.lit(None, pl.Utf8).alias("du_level"),
        )
    return g.with_columns(
        (pl.col("du_level") == "controlled").fill_null(False).alias("dual_use"),
        (pl.col("du_level") == "watch").fill_null(False).alias("dual_use_watch"),
    )


# ------------------------------------------------------------------ rules


def _watchlist(frames: BatchFrames, ruleset: Ruleset, add: AddHit) -> None:
    rule = ruleset.rules.active("WATCHLIST_PARTY")
    if rule is None:
        return
    scores = frames.manifests["watchlist_score"]
    for i in scores.to_frame().with_row_index("r").filter(pl.col("watchlist_score") >= rule.min_match_score)["r"]:
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


def _embargo_route(frames: BatchFrames, goods: pl.DataFrame, ruleset: Ruleset, reference: ScoringReference, add: AddHit) -> None:
    rule = ruleset.rules.active("EMBARGO_ROUTE")
    if rule is None or reference.country_risk.is_empty():
        return
    m = frames.manifests
    parts: list[pl.DataFrame] = []
    if "origin" in rule.check:
        parts.append(goods.select("i", pl.lit("origin").alias("where"), pl.col("origin").alias("country")))
    if "loading" in rule.check:
        parts.append(m.select("i", pl.lit("loading").alias("where"), pl.col("loading_country").alias("country")))
    if "discharge" in rule.check:
        parts.append(m.select("i", pl.lit("discharge").alias("where"), pl.col("discharge_country").alias("country")))
    wanted = [w for w in ("transshipment", "routing") if w in rule.check]
    if wanted and frames.route_countries.height:
        parts.append(frames.route_countries.filter(pl.col("where").is_in(wanted)).select("i", "where", "country"))
    if not parts:
        return
    long = pl.concat(parts, how="vertical").join(reference.country_risk, on="country", how="inner")
    long = long.filter(pl.col("class_weight") > 0)
    if long.is_empty():
        return
    fired = (
        long.sort(["i", "class_weight"], descending=[False, True])
        .group_by("i", maintain_order=True)
        .agg(
            pl.first("country"),
            pl.first("where"),
            pl.first("risk_class"),
            pl.first("class_weight"),
            pl.concat_str(pl.col("where"), pl.lit(":"), pl.col("country")).unique(maintain_order=True).str.join(",").alias("all"),
        )
    )
    for i, country, where, risk_class, cw, everything in fired.iter_rows():
        add(
            i,
            "EMBARGO_ROUTE",
            rule.weight * cw,
            f"{where} country {country} is {risk_class.replace('_', ' ')}",
            {"country": country, "where": where, "risk_class": risk_class, "countries": everything},
            rule.embargoed_lane if risk_class == "embargoed" else rule.lane,
        )


def _dual_use(goods: pl.DataFrame, ruleset: Ruleset, add: AddHit) -> None:
    rule = ruleset.rules.active("DUAL_USE_GOODS")
    if rule is None:
        return
    fired = (
        goods.filter(pl.col("dual_use"))
        .group_by("i", maintain_order=True)
        .agg(pl.first("line"), pl.first("hs_code"), pl.first("du_prefix"), pl.first("du_category"),
             pl.first("du_note"), pl.len().alias("lines"))
    )
    for i, line, hs, prefix, category, note, lines in fired.iter_rows():
        add(
            i,
            "DUAL_USE_GOODS",
            rule.weight,
            f"HS {hs} on line {line} is on the strategic list ({category}: {prefix})",
            {"line": str(line), "hs_code": hs, "listed_prefix": prefix, "category": category,
             "note": note or "", "lines": str(lines)},
            rule.lane,
        )


def _undervaluation(goods: pl.DataFrame, ruleset: Ruleset, reference: ScoringReference, add: AddHit) -> None:
    rule = ruleset.rules.active("UNDERVALUATION")
    b = reference.benchmarks
    if rule is None or b.is_empty():
        return
    tables = reference.cache("UNDERVALUATION", ())
    if not tables:
        keep = ["hs", "origin", "n", "median_log_vpk", "mad_log_vpk"]
        tables["b1"] = b.filter(pl.col("level") == "hs6_origin").select(keep).rename(
            {"hs": "hs_subheading", "n": "n1", "median_log_vpk": "med1", "mad_log_vpk": "mad1"})
        tables["b2"] = b.filter(pl.col("level") == "hs6").select(keep[:1] + keep[2:]).rename(
            {"hs": "hs_subheading", "n": "n2", "median_log_vpk": "med2", "mad_log_vpk": "mad2"})
        tables["b3"] = b.filter(pl.col("level") == "chapter").select(keep[:1] + keep[2:]).rename(
            {"hs": "hs_chapter", "n": "n3", "median_log_vpk": "med3", "mad_log_vpk": "mad3"})
    b1, b2, b3 = tables["b1"], tables["b2"], tables["b3"]
    ms = rule.min_samples
    g = (
        goods.filter(pl.col("value_per_kg").is_not_null() & (pl.col("gross_weight_kg") > 0))
        .select("i", "line", "hs_subheading", "hs_chapter", "origin", "value_per_kg")
        .join(b1, on=["hs_subheading", "origin"], how="left")
        .join(b2, on="hs_subheading", how="left")
        .join(b3, on="hs_chapter", how="left")
    )
    level = (
        pl.when(pl.col("n1") >= ms).then(pl.lit("hs6_origin"))
        .when(pl.col("n2") >= ms).then(pl.lit("hs6"))
        .when(pl.col("n3") >= ms).then(pl.lit("chapter"))
    )
    med = pl.when(pl.col("n1") >= ms).then("med1").when(pl.col("n2") >= ms).then("med2").when(pl.col("n3") >= ms).then("med3")
    mad = pl.when(pl.col("n1") >= ms).then("mad1").when(pl.col("n2") >= ms).then("mad2").when(pl.col("n3") >= ms).then("mad3")
    g = g.with_columns(level.alias("level"), med.alias("med"), mad.alias("mad")).filter(pl.col("med").is_not_null())
    g = g.with_columns(
        ((pl.col("value_per_kg").log() - pl.col("med")) / (pl.col("mad").clip(lower_bound=0.05) * _MAD_SCALE)).alias("z"),
        (pl.col("value_per_kg").log() - pl.col("med")).exp().alias("ratio"),
    )
    fired = (
        g.filter((pl.col("z") <= -rule.min_robust_z) & (pl.col("ratio") <= rule.max_ratio))
        .sort(["i", "z"])
        .group_by("i", maintain_order=True)
        .agg(pl.first("line"), pl.first("hs_subheading"), pl.first("origin"), pl.first("value_per_kg"),
             pl.first("med"), pl.first("z"), pl.first("ratio"), pl.first("level"))
    )
    for i, line, hs6, origin, vpk, med_, z, ratio, lvl in fired.iter_rows():
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
_BAD_SCHEMA = {"hs_chapter": pl.Utf8, "description": pl.Utf8, "other": pl.Utf8, "other_word": pl.Utf8}


def _description_mismatch(goods: pl.DataFrame, ruleset: Ruleset, reference: ScoringReference, add: AddHit) -> None:
    rule = ruleset.rules.active("DESCRIPTION_MISMATCH")
    if rule is None or reference.keywords.is_empty():
        return
    profiled = list(reference.profiled_chapters)
    pairs = goods.filter(pl.col("hs_chapter").is_in(profiled)).select("hs_chapter", "description").unique()
    if pairs.is_empty():
        return
    # Descriptions repeat across batches: judge each (chapter, description) once.
    params = (rule.margin, rule.min_other_score, rule.require_other_chapter, rule.min_tokens, rule.reference_weight)
    verdicts = reference.cache("DESCRIPTION_MISMATCH", params)
    rows = pairs.rows()
    new = [p for p in rows if p not in verdicts]
    if new:
        judged = _judge_descriptions(pl.DataFrame(new, schema=_PAIR_SCHEMA, orient="row"), rule, reference)
        found = {(c, d): (o, w) for c, d, o, w in judged.iter_rows()}
        for p in new:
            verdicts[p] = found.get(p)
    bad_rows = [(c, d, *v) for c, d in rows if (v := verdicts.get((c, d))) is not None]
    if not bad_rows:
        return
    bad = pl.DataFrame(bad_rows, schema=_BAD_SCHEMA, orient="row")
    fired = (
        goods.join(bad, on=["hs_chapter", "description"], how="inner")
        .group_by("i", maintain_order=True)
        .agg(pl.first("line"), pl.first("hs_code"), pl.first("description"), pl.first("other"), pl.first("other_word"))
    )
    for i, line, hs, desc, other, word in fired.iter_rows():
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
        .agg(pl.col("w").sum().alias("s"), pl.col("word").sort_by("w", descending=True).first().alias("kw"))
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
            .agg(pl.col("s").sum(), pl.col("kw").sort_by("s", descending=True).first())
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


def _manifest_rules(frames: BatchFrames, ruleset: Ruleset, add: AddHit) -> None:
    """LATE_FILING, LATE_AMENDMENT and the per-container part of WEIGHT_ANOMALY: column
    expressions over the manifest frame in one query (one polars call, not one per rule)."""
    rules = ruleset.rules
    lf_rule, la_rule, wa_rule = rules.active("LATE_FILING"), rules.active("LATE_AMENDMENT"), rules.active("WEIGHT_ANOMALY")
    false = pl.lit(False)

    def per_mode(hours: dict) -> pl.Expr:
        expr = pl.lit(None, pl.Float64)
        for mode, h in hours.items():
            expr = pl.when(pl.col("mode") == mode).then(pl.lit(float(h))).otherwise(expr)
        return expr

    # LATE_FILING is judged on the first known filing: the original's time for an amendment
    nd = per_mode(lf_rule.before_departure_h) if lf_rule else pl.lit(None, pl.Float64)
    na = per_mode(lf_rule.before_arrival_h) if lf_rule else pl.lit(None, pl.Float64)
    al = pl.col("arrival_lead_h") + pl.col("first_filed_lead_h") - pl.col("lead_time_h")
    late_dep = (pl.col("first_filed_lead_h") < nd).fill_null(False) if lf_rule else false
    late_arr = (al < na).fill_null(False) if lf_rule else false
    changed = pl.col("amendment_changed")
    if la_rule is not None and la_rule.when_previous_unknown:
        changed = changed.fill_null(True)
    late_amend = ((pl.col("version") > 1) & changed.fill_null(False) & (pl.col("lead_time_h") < 0)) if la_rule else false
    kpc = pl.col("total_gross_weight_kg") / pl.col("container_count")
    odd_box = (
        (pl.col("container_count") > 0) & ((kpc > wa_rule.max_kg_per_container) | (kpc < wa_rule.min_kg_per_container))
        if wa_rule else false
    )
    flagged = (
        frames.manifests.lazy()
        .select(
            "i", "mode", "version", "lead_time_h", "first_filed_lead_h", "amendment_changed", "container_count",
            nd.alias("nd"), na.alias("na"), al.alias("al"), kpc.alias("kpc"),
            late_dep.alias("late_dep"), late_arr.alias("late_arr"), late_amend.alias("late_amend"),
            odd_box.alias("odd_box"),
        )
        .filter(pl.col("late_dep") | pl.col("late_arr") | pl.col("late_amend") | pl.col("odd_box"))
        .collect()
    )
    for row in flagged.iter_rows(named=True):
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


def _route_anomaly(frames: BatchFrames, goods: pl.DataFrame, ruleset: Ruleset, reference: ScoringReference, add: AddHit) -> None:
    rule = ruleset.rules.active("ROUTE_ANOMALY")
    if rule is None:
        return
    m = frames.manifests
    hubs = sorted(reference.hubs)
    rc = frames.route_countries
    du = goods.filter(pl.col("dual_use")).select("i").unique()
    hub_rows = rc.filter(pl.col("country").is_in(hubs) & pl.col("i").is_in(du["i"].implode()))
    via: dict[int, list[str]] = {}
    if rule.hub_with_dual_use:
        for i, c in hub_rows.select("i", "country").iter_rows():
            via.setdefault(i, []).append(c)
    # Transshipment hubs not usual for the lane (the loading country's list, or "*")
    odd: dict[int, list[str]] = {}
    if rule.usual_hubs and rc.height:
        key = tuple(sorted((c, tuple(hs)) for c, hs in rule.usual_hubs.items()))
        tables = reference.cache("ROUTE_ANOMALY", key)
        if not tables:
            tables["usual"] = pl.DataFrame(
                [(c, h) for c, hs in rule.usual_hubs.items() for h in hs],
                schema={"loading_country": pl.Utf8, "port": pl.Utf8}, orient="row",
            )
            tables["anywhere"] = tables["usual"].filter(pl.col("loading_country") == "*").select("port")
        usual, anywhere = tables["usual"], tables["anywhere"]
        lanes = m.filter(pl.col("mode").is_in(rule.usual_hubs_modes)).select("i", "loading_country")
        ts = rc.filter(pl.col("where") == "transshipment").join(lanes, on="i")
        ts = ts.join(usual, on=["loading_country", "port"], how="anti").join(anywhere, on="port", how="anti")
        for i, port in ts.select("i", "port").iter_rows():
            odd.setdefault(i, []).append(port)
        odd = {i: ps for i, ps in odd.items() if len(ps) >= rule.min_unusual_hubs}
    f = m.select(
        "i", "route_unusual", "transshipment_count", "loading_port", "discharge_port",
        (pl.col("transshipment_count") > rule.max_transshipments).alias("circuitous"),
        pl.col("i").is_in(list(via)).alias("hub_dual_use"),
        pl.col("i").is_in(list(odd)).alias("odd_hubs"),
    ).filter(pl.col("route_unusual") | pl.col("circuitous") | pl.col("hub_dual_use") | pl.col("odd_hubs"))
    for i, unusual, tcount, lp, dp, circuitous, hub, odd_hubs in f.iter_rows():
        reasons = []
        ev = {"route": f"{lp}>{dp}", "transshipments": str(tcount)}
        if unusual:
            tid, route, n = frames.facts[i].route_unusual  # type: ignore[misc]
            reasons.append(f"route {route} never used by trader {tid} in {n} shipments")
            ev["trader_id"] = tid
        if odd_hubs:
            ev["unusual_hubs"] = ",".join(odd[i])
            reasons.append(f"transshipment via {ev['unusual_hubs']}, not usual from {lp[:2]}")
        if circuitous:
            reasons.append(f"{tcount} transshipments (more than {rule.max_transshipments})")
        if hub:
            hubs_used = ",".join(sorted(set(via[i])))
            reasons.append(f"dual-use goods routed via diversion hub {hubs_used}")
            ev["hubs"] = hubs_used
        add(i, "ROUTE_ANOMALY", rule.weight, "; ".join(reasons), ev, rule.lane)


def _weight_anomaly(frames: BatchFrames, goods: pl.DataFrame, ruleset: Ruleset, add: AddHit) -> None:
    rule = ruleset.rules.active("WEIGHT_ANOMALY")
    if rule is None:
        return
    kpp = pl.col("gross_weight_kg") / pl.col("packages")
    lines = (
        goods.filter((pl.col("packages") > 0) & ((kpp < rule.min_kg_per_package) | (kpp > rule.max_kg_per_package)))
        .group_by("i", maintain_order=True)
        .agg(pl.first("line"), (pl.first("gross_weight_kg") / pl.first("packages")).alias("kpp"))
    )
    per_line = {i: (line, k) for i, line, k in lines.iter_rows()}
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


_LIST_FIELDS = {"transshipment_ports", "transshipment_countries", "routing_countries"}


def _criteria_frame(frames: BatchFrames, goods: pl.DataFrame, fields: set[str]) -> pl.DataFrame:
    manifests = with_route_lists(frames) if fields & _LIST_FIELDS else frames.manifests
    mcols = [c for c in manifests.columns if c in fields and c not in goods.columns]
    if not mcols:
        return goods
    return goods.join(manifests.select("i", *mcols), on="i", how="left")


def _criteria(frames: BatchFrames, goods: pl.DataFrame, ruleset: Ruleset, add: AddHit) -> None:
    if not ruleset.criteria_exprs:
        return
    fields = ruleset.criteria_fields
    g = _criteria_frame(frames, goods, fields)
    flags = g.select(
        "i", "line", *[expr.alias(f"c{k}") for k, (_, expr) in enumerate(ruleset.criteria_exprs)]
    )
    for k, (crit, _) in enumerate(ruleset.criteria_exprs):
        fired = flags.filter(pl.col(f"c{k}")).group_by("i", maintain_order=True).agg(pl.first("line"))
        for i, line in fired.iter_rows():
            add(i, crit.id, crit.weight, crit.reason or f"meets criterion {crit.id}",
                {"criterion": crit.when, "line": str(line)}, crit.lane)


def _rfi(frames: BatchFrames, goods: pl.DataFrame, ruleset: Ruleset) -> list[bool]:
    n = frames.manifests.height
    out = [False] * n
    if not ruleset.rfi_exprs:
        return out
    g = _criteria_frame(frames, goods, ruleset.criteria_fields)
    any_gap = pl.any_horizontal([e for _, e in ruleset.rfi_exprs])
    for i in g.filter(any_gap)["i"].unique():
        out[i] = True
    return out
