"""Flatten a batch of enriched manifests into two polars frames the rules run on.

``manifests``: one row per manifest (index ``i`` = position in the batch), route, timing,
totals and what the trader register and history say of its parties.
``goods``: one row per goods line (``i`` links it to its manifest).

This is the one place that walks the records in Python; everything after it is
column expressions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from enrichers.enriched import EnrichedManifest, PartyContext
from schemas.model import Manifest, WatchlistMatch

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
    "transshipment_ports": pl.List(pl.Utf8),
    "transshipment_countries": pl.List(pl.Utf8),
    "routing_countries": pl.List(pl.Utf8),
    "transshipment_count": pl.Int64,
    "lead_time_h": pl.Float64,
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


@dataclass
class PartyFacts:
    """Per-manifest facts from the register and history, kept for hit evidence."""

    new_roles: list[str]
    trusted: list[tuple[str, str, str]]  # (role, trader_id, certificate valid until)
    expired: list[tuple[str, str, str]]
    prior: list[tuple[str, str, int]]  # (role, trader_id, confirmed findings)
    route_unusual: tuple[str, str, int] | None  # (trader_id, route, shipments)


@dataclass
class BatchFrames:
    manifests: pl.DataFrame
    goods: pl.DataFrame
    facts: list[PartyFacts]
    matches: list[list[WatchlistMatch]]


def _country(locode: str) -> str:
    # The first two letters of a UN/LOCODE are the ISO country code.
    return locode[:2]


def _party_facts(
    em: EnrichedManifest,
    today: date,
    new_roles_cfg: frozenset[str],
    trusted_roles_cfg: frozenset[str],
    count_unidentified: bool,
    route_min_history: int,
) -> PartyFacts:
    m = em.manifest
    contexts: list[PartyContext] = em.parties
    new_roles: list[str] = []
    trusted: list[tuple[str, str, str]] = []
    expired: list[tuple[str, str, str]] = []
    prior: list[tuple[str, str, int]] = []
    route_unusual: tuple[str, str, int] | None = None
    route = f"{m.route.loading_port}>{m.route.discharge_port}"
    if contexts:
        for pc in contexts:
            role = pc.role
            hist = pc.history
            if role in new_roles_cfg and (
                (pc.trader_id is None and count_unidentified)
                or (pc.trader_id is not None and (hist is None or hist.shipments == 0))
            ):
                new_roles.append(role)
            if hist is not None:
                if hist.confirmed_findings > 0:
                    prior.append((role, hist.trader_id, hist.confirmed_findings))
                if (
                    route_unusual is None
                    and role in new_roles_cfg
                    and hist.shipments >= route_min_history
                    and route not in hist.routes
                ):
                    route_unusual = (hist.trader_id, route, hist.shipments)
            prof = pc.profile
            if role in trusted_roles_cfg and prof is not None and prof.aeo_certificate:
                until = prof.aeo_valid_until or ""
                if _valid_until(until, today):
                    trusted.append((role, prof.trader_id, until))
                else:
                    expired.append((role, prof.trader_id, until))
    else:
        # No enrichment context: no party has a screening history.
        new_roles = [p.role for p in m.parties if p.role in new_roles_cfg]
    return PartyFacts(new_roles, trusted, expired, prior, route_unusual)


def _valid_until(until: str, today: date) -> bool:
    """An AEO certificate counts only with a validity date on or after the screening date."""
    if not until:
        return False
    try:
        return date.fromisoformat(until[:10]) >= today
    except ValueError:
        return False


def _amendment_changed(m: Manifest, prev: Manifest | None) -> bool:
    if m.version <= 1 or prev is None:
        return False
    return prev.parties != m.parties or prev.goods != m.goods


def extract(
    batch: list[EnrichedManifest],
    now: datetime,
    new_roles: frozenset[str] = frozenset({"CONSIGNEE", "CONSIGNOR"}),
    trusted_roles: frozenset[str] = frozenset({"CONSIGNEE", "CONSIGNOR"}),
    count_unidentified: bool = True,
    route_min_history: int = 5,
) -> BatchFrames:
    """Columns for the batch (one Python pass over the records)."""
    n = len(batch)
    today = now.date()
    cols: dict[str, list] = {k: [] for k in MANIFEST_SCHEMA}
    g: dict[str, list] = {k: [] for k in GOODS_SCHEMA}
    facts: list[PartyFacts] = []
    matches: list[list[WatchlistMatch]] = []
    for i in range(n):
        em = batch[i]
        m = em.manifest
        r = m.route
        dep = r.departure_at
        filed = m.filed_at
        ts_ports = r.transshipment_ports
        consignee = consignor = None
        for p in m.parties:
            if p.role == "CONSIGNEE" and consignee is None:
                consignee = p
            elif p.role == "CONSIGNOR" and consignor is None:
                consignor = p
        pf = _party_facts(em, today, new_roles, trusted_roles, count_unidentified, route_min_history)
        facts.append(pf)
        wm = em.watchlist_matches
        matches.append(wm)
        cols["i"].append(i)
        cols["manifest_id"].append(m.manifest_id)
        cols["version"].append(m.version)
        cols["mode"].append(m.mode)
        cols["filer_id"].append(m.filer.id)
        cols["document_type"].append(m.document.type)
        cols["loading_port"].append(r.loading_port)
        cols["discharge_port"].append(r.discharge_port)
        cols["loading_country"].append(r.loading_port[:2])
        cols["discharge_country"].append(r.discharge_port[:2])
        cols["transshipment_ports"].append(ts_ports)
        cols["transshipment_countries"].append([p[:2] for p in ts_ports])
        cols["routing_countries"].append(r.routing_countries)
        cols["transshipment_count"].append(len(ts_ports))
        cols["lead_time_h"].append((dep - filed).total_seconds() / 3600.0)
        cols["arrival_lead_h"].append((r.arrival_at - filed).total_seconds() / 3600.0)
        cols["total_gross_weight_kg"].append(m.total_gross_weight_kg)
        cols["total_packages"].append(m.total_packages)
        cols["container_count"].append(len(m.containers))
        cols["goods_count"].append(len(m.goods))
        cols["consignee_id"].append((consignee.identifier or "") if consignee else "")
        cols["consignee_country"].append(consignee.address.country if consignee else "")
        cols["consignor_id"].append((consignor.identifier or "") if consignor else "")
        cols["consignor_country"].append(consignor.address.country if consignor else "")
        cols["watchlist_score"].append(max((x.score for x in wm), default=0.0))
        cols["new_trader"].append(bool(pf.new_roles))
        cols["trusted_trader"].append(bool(pf.trusted))
        cols["prior_findings"].append(sum(p[2] for p in pf.prior))
        cols["route_unusual"].append(pf.route_unusual is not None)
        cols["amendment_changed"].append(_amendment_changed(m, em.previous_version))
        for item in m.goods:
            g["i"].append(i)
            g["line"].append(item.line)
            g["hs_code"].append(item.hs_code)
            g["description"].append(item.description)
            g["packages"].append(item.packages)
            g["gross_weight_kg"].append(item.gross_weight_kg)
            g["value_amount"].append(item.value_amount)
            g["value_currency"].append(item.value_currency)
            g["origin"].append(item.origin_country)
            g["un_number"].append(item.un_number or "")
    return BatchFrames(
        manifests=pl.DataFrame(cols, schema=MANIFEST_SCHEMA),
        goods=pl.DataFrame(g, schema=GOODS_SCHEMA),
        facts=facts,
        matches=matches,
    )
