"""Flatten a batch of enriched manifests into two polars frames the rules run on.

``manifests``: one row per manifest (index ``i`` = position in the batch), route, timing,
totals and what the trader register and history say of its parties.
``goods``: one row per goods line (``i`` links it to its manifest).

This is the one place that walks the records in Python; everything after it is
column expressions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from enrichers.enriched import EnrichedManifest, PartyContext
from schemas.model import FilingFingerprint, Manifest, Party, WatchlistMatch

MANIFEST_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "i": pl.Int64,
    "manifest_id": pl.Utf8,
    "version": pl.Int64,
    "mode": pl.Utf8,
    "filer_id": pl.Utf8,
    "document_type": pl.Utf8,
    "loading_port": pl.Utf8,
    "discharge_port": pl.Utf8,
    "loading_country": pl.Utf8,
    "discharge_country": pl.Utf8,
    "transshipment_count": pl.Int64,
    "lead_time_h": pl.Float64,
    "first_filed_lead_h": pl.Float64,
    "arrival_lead_h": pl.Float64,
    "total_gross_weight_kg": pl.Float64,
    "total_packages": pl.Int64,
    "container_count": pl.Int64,
    "goods_count": pl.Int64,
    "consignee_id": pl.Utf8,
    "consignee_country": pl.Utf8,
    "consignor_id": pl.Utf8,
    "consignor_country": pl.Utf8,
    "watchlist_score": pl.Float64,
    "new_trader": pl.Boolean,
    "trusted_trader": pl.Boolean,
    "prior_findings": pl.Int64,
    "route_unusual": pl.Boolean,
    "amendment_changed": pl.Boolean,
}

# What the built-in rules read; other manifest columns are built only for criteria (the
# party facts behind new_trader, trusted_trader, prior_findings and route_unusual are read
# by the rules from `BatchFrames.facts`).
CORE_COLUMNS = frozenset(
    {
        "i", "version", "mode", "loading_port", "discharge_port", "loading_country",
        "discharge_country", "transshipment_count", "lead_time_h", "first_filed_lead_h", "arrival_lead_h",
        "total_gross_weight_kg", "container_count", "watchlist_score", "amendment_changed",
    }
)

GOODS_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "i": pl.Int64,
    "line": pl.Int64,
    "hs_code": pl.Utf8,
    "description": pl.Utf8,
    "packages": pl.Int64,
    "gross_weight_kg": pl.Float64,
    "value_amount": pl.Float64,
    "value_currency": pl.Utf8,
    "origin": pl.Utf8,
    "un_number": pl.Utf8,
}


_NONE: tuple = ()


@dataclass(slots=True)
class PartyFacts:
    """Per-manifest facts from the register and history, kept for hit evidence. Most
    manifests have none: the fields share one empty tuple until something is found."""

    new_roles: list[str] | tuple = _NONE
    trusted: list[tuple[str, str, str]] | tuple = _NONE  # (role, trader_id, valid until)
    expired: list[tuple[str, str, str]] | tuple = _NONE
    prior: list[tuple[str, str, int]] | tuple = _NONE  # (role, trader_id, confirmed findings)
    route_unusual: tuple[str, str, int] | None = None  # (trader_id, route, shipments)


NO_FACTS = PartyFacts()  # shared by every manifest with nothing to tell: never modify it


@dataclass
class BatchFrames:
    manifests: pl.DataFrame
    goods: pl.DataFrame
    route_countries: pl.DataFrame  # i, where (transshipment | routing), country
    facts: list[PartyFacts]
    matches: list[list[WatchlistMatch]]
    # manifests with implausible weight per container: i -> (containers, kg per container)
    odd_boxes: dict[int, tuple[int, float]] = field(default_factory=dict)
    # the Python lists the goods frame was built from (lookups in Python read them)
    goods_lists: dict[str, list] = field(default_factory=dict)


def _party_facts(
    em: EnrichedManifest,
    today: date,
    new_roles_cfg: frozenset[str],
    trusted_roles_cfg: frozenset[str],
    count_unidentified: bool,
    route_min_history: int,
    route_max_known: int = 1_000_000,
) -> PartyFacts:
    contexts: list[PartyContext] = em.parties
    if not contexts:
        # No enrichment context: no party has a screening history.
        roles: list[str] = [p.role for p in em.manifest.parties if p.role in new_roles_cfg]
        return PartyFacts(new_roles=roles) if roles else NO_FACTS
    new_roles: list[str] | None = None
    prior: list[tuple[str, str, int]] | None = None
    trusted: list[tuple[str, str, str]] | None = None
    expired: list[tuple[str, str, str]] | None = None
    route_unusual: tuple[str, str, int] | None = None
    route = None
    for pc in contexts:
        role = pc.role
        hist = pc.history
        watched = role in new_roles_cfg
        # New: no screening history and unknown to the trader register (a registered
        # trader is known to customs even before its first shipment on this stream).
        if hist is None:
            if watched and (count_unidentified if pc.trader_id is None else pc.profile is None):
                new_roles = [*new_roles, role] if new_roles else [role]
        else:
            if watched and hist.shipments == 0 and pc.profile is None:
                new_roles = [*new_roles, role] if new_roles else [role]
            if hist.confirmed_findings > 0:
                found = (role, hist.trader_id, hist.confirmed_findings)
                prior = [*prior, found] if prior else [found]
            if (
                watched
                and route_unusual is None
                and hist.shipments >= route_min_history
                and len(hist.routes) <= route_max_known
            ):
                if route is None:
                    r = em.manifest.route
                    route = f"{r.loading_port}>{r.discharge_port}"
                if route not in hist.routes:
                    route_unusual = (hist.trader_id, route, hist.shipments)
        prof = pc.profile
        if prof is not None and prof.aeo_certificate and role in trusted_roles_cfg:
            until = prof.aeo_valid_until or ""
            cert = (role, prof.trader_id, until)
            if _valid_until(until, today):
                trusted = [*trusted, cert] if trusted else [cert]
            else:
                expired = [*expired, cert] if expired else [cert]
    if new_roles is None and prior is None and trusted is None and expired is None and route_unusual is None:
        return NO_FACTS  # most manifests: one shared empty record
    return PartyFacts(new_roles or _NONE, trusted or _NONE, expired or _NONE, prior or _NONE, route_unusual)


def _valid_until(until: str, today: date) -> bool:
    """An AEO certificate counts only with a validity date on or after the screening date."""
    if not until:
        return False
    try:
        return date.fromisoformat(until[:10]) >= today
    except ValueError:
        return False


def _first_filed_lead(m: Manifest, prev: FilingFingerprint | None, lead: float) -> float | None:
    """Hours from the first known filing to departure (``lead``: from this filing): an
    amendment is judged by when the original was filed (a late amendment is
    LATE_AMENDMENT's business)."""
    if m.version <= 1:
        return lead
    if prev is None:
        return None
    return (m.route.departure_at - prev.filed_at).total_seconds() / 3600.0


def _amendment_changed(m: Manifest, prev: FilingFingerprint | None) -> bool | None:
    """Whether an amendment changes parties or goods; None when the previous version is
    not at hand."""
    if m.version <= 1:
        return False
    if prev is None:
        return None
    return prev.changes_parties_or_goods(m)


def extract(
    batch: list[EnrichedManifest],
    now: datetime,
    new_roles: frozenset[str] = frozenset({"CONSIGNEE", "CONSIGNOR"}),
    trusted_roles: frozenset[str] = frozenset({"CONSIGNEE", "CONSIGNOR"}),
    count_unidentified: bool = True,
    route_min_history: int = 5,
    extra: frozenset[str] | set[str] = frozenset(),
    route_max_known: int = 1_000_000,
) -> BatchFrames:
    """Columns for the batch: :data:`CORE_COLUMNS` (what the rules read) plus ``extra``
    (fields the analyst criteria use). One list comprehension per column: far cheaper
    than one append per field per record."""
    today = now.date()
    ms = [em.manifest for em in batch]
    routes = [m.route for m in ms]
    n = len(ms)
    facts = [
        _party_facts(em, today, new_roles, trusted_roles, count_unidentified, route_min_history, route_max_known)
        for em in batch
    ]
    matches = [em.watchlist_matches for em in batch]
    consignee: list[Party | None] = [None] * n
    consignor: list[Party | None] = [None] * n
    for i, m in enumerate(ms):
        for p in m.parties:
            if p.role == "CONSIGNEE":
                if consignee[i] is None:
                    consignee[i] = p
            elif p.role == "CONSIGNOR" and consignor[i] is None:
                consignor[i] = p
    # Route countries in long form (few manifests have any): (i, where, country)
    r_i: list[int] = []
    r_where: list[str] = []
    r_country: list[str] = []
    r_port: list[str | None] = []
    for i, r in enumerate(routes):
        for port in r.transshipment_ports:
            r_i.append(i)
            r_where.append("transshipment")
            r_country.append(port[:2])
            r_port.append(port)
        for c in r.routing_countries:
            r_i.append(i)
            r_where.append("routing")
            r_country.append(c)
            r_port.append(None)
    leads = [(r.departure_at - m.filed_at).total_seconds() / 3600.0 for r, m in zip(routes, ms, strict=True)]
    builders: dict[str, Callable[[], list]] = {
        "manifest_id": lambda: [m.manifest_id for m in ms],
        "version": lambda: [m.version for m in ms],
        "mode": lambda: [m.mode for m in ms],
        "filer_id": lambda: [m.filer.id for m in ms],
        "document_type": lambda: [m.document.type for m in ms],
        "loading_port": lambda: [r.loading_port for r in routes],
        "discharge_port": lambda: [r.discharge_port for r in routes],
        "loading_country": lambda: [r.loading_port[:2] for r in routes],
        "discharge_country": lambda: [r.discharge_port[:2] for r in routes],
        "transshipment_count": lambda: [len(r.transshipment_ports) for r in routes],
        "lead_time_h": lambda: leads,
        "first_filed_lead_h": lambda: [
            lead if m.version <= 1 else _first_filed_lead(m, em.previous_version, lead)
            for m, em, lead in zip(ms, batch, leads, strict=True)
        ],
        "arrival_lead_h": lambda: [
            (r.arrival_at - m.filed_at).total_seconds() / 3600.0 for r, m in zip(routes, ms, strict=True)
        ],
        "total_gross_weight_kg": lambda: [m.total_gross_weight_kg for m in ms],
        "total_packages": lambda: [m.total_packages for m in ms],
        "container_count": lambda: [len(m.containers) for m in ms],
        "consignee_id": lambda: [(p.identifier or "") if p else "" for p in consignee],
        "consignee_country": lambda: [p.address.country if p else "" for p in consignee],
        "consignor_id": lambda: [(p.identifier or "") if p else "" for p in consignor],
        "consignor_country": lambda: [p.address.country if p else "" for p in consignor],
        "watchlist_score": lambda: [max(x.score for x in wm) if wm else 0.0 for wm in matches],
        "new_trader": lambda: [bool(f.new_roles) for f in facts],
        "trusted_trader": lambda: [bool(f.trusted) for f in facts],
        "prior_findings": lambda: [sum(p[2] for p in f.prior) if f.prior else 0 for f in facts],
        "route_unusual": lambda: [f.route_unusual is not None for f in facts],
        "amendment_changed": lambda: [
            _amendment_changed(m, em.previous_version) if m.version > 1 else False
            for m, em in zip(ms, batch, strict=True)
        ],
    }
    goods_count = [len(m.goods) for m in ms]
    cols: dict[str, list] = {"i": list(range(n))}
    if "goods_count" in extra:
        cols["goods_count"] = goods_count
    for name, build in builders.items():
        if name in CORE_COLUMNS or name in extra:
            cols[name] = build()
    schema = {k: MANIFEST_SCHEMA[k] for k in cols}
    items = [x for m in ms for x in m.goods]
    line_owner: list[int] = []
    for i, count in enumerate(goods_count):
        line_owner += [i] * count
    g: dict[str, list] = {
        "i": line_owner,
        "line": [x.line for x in items],
        "hs_code": [x.hs_code for x in items],
        "description": [x.description for x in items],
        "packages": [x.packages for x in items],
        "gross_weight_kg": [x.gross_weight_kg for x in items],
        "value_amount": [x.value_amount for x in items],
        "value_currency": [x.value_currency for x in items],
        "origin": [x.origin_country for x in items],
        "un_number": [x.un_number or "" for x in items],
    }
    return BatchFrames(
        manifests=pl.DataFrame(cols, schema=schema),
        goods=pl.DataFrame(g, schema=GOODS_SCHEMA),
        route_countries=pl.DataFrame(
            {"i": r_i, "where": r_where, "country": r_country, "port": r_port},
            schema={"i": pl.Int64, "where": pl.Utf8, "country": pl.Utf8, "port": pl.Utf8},
        ),
        facts=facts,
        matches=matches,
        goods_lists=g,
    )


def with_route_lists(frames: BatchFrames) -> pl.DataFrame:
    """The manifest frame with the list fields criteria may use (built only when asked)."""
    m = frames.manifests
    rc = frames.route_countries
    lists = rc.group_by("i").agg(
        pl.col("port").filter(pl.col("where") == "transshipment").alias("transshipment_ports"),
        pl.col("country").filter(pl.col("where") == "transshipment").alias("transshipment_countries"),
        pl.col("country").filter(pl.col("where") == "routing").alias("routing_countries"),
    )
    empty = pl.lit([], pl.List(pl.Utf8))
    return m.join(lists, on="i", how="left").with_columns(
        pl.col("transshipment_ports").fill_null(empty),
        pl.col("transshipment_countries").fill_null(empty),
        pl.col("routing_countries").fill_null(empty),
    )
