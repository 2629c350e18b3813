"""Routes per mode: loading and discharge ports that have the mode's UN/LOCODE function,
transshipment hubs on the way, routing countries, and transit times.

Ordinary traffic never touches an embargoed country; :meth:`RoutePlanner.embargo_route`
builds the planted EMBARGO_ROUTE cases (goods of embargoed origin diverted through a
hub, loading in an embargoed port, rail or air routed through Russia / Belarus).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from cargowatch.generator import draws
from cargowatch.generator.tables import WorldTables
from enrichers.refdata import ReferenceData

# Sea transit days to northern Europe by origin (a rough schedule, for plausibility).
_SEA_DAYS: dict[str, tuple[int, int]] = {
    "CN": (30, 42), "HK": (28, 38), "TW": (30, 40), "KR": (32, 42), "JP": (34, 45), "VN": (28, 38),
    "TH": (26, 36), "MY": (24, 34), "ID": (26, 36), "IN": (20, 28), "BD": (24, 34), "PK": (18, 26),
    "AE": (16, 24), "IL": (8, 14), "EG": (7, 12), "TR": (6, 14), "MA": (4, 9), "ZA": (20, 28),
    "US": (10, 18), "CA": (9, 15), "MX": (16, 24), "BR": (16, 24), "AR": (20, 28), "CL": (26, 36),
    "GB": (1, 4), "NO": (2, 5),
}
_FAR = {"CN", "HK", "TW", "KR", "JP", "VN", "TH", "MY", "ID", "IN", "BD", "PK", "ZA", "BR", "AR", "CL", "MX"}
_AIR_HUBS = ("AEDXB", "QADOH", "TRIST", "HKHKG")
# Deep-sea services call at the big northern ports; smaller markets get a feeder from there.
# Hubs a circuitous (planted ROUTE_ANOMALY) routing may call at, besides the usual ones.
_DETOUR_HUBS = ("PAONX", "PAMIT", "ZADUR", "USSAV", "BRSSZ", "OMSLL", "LKCMB", "SGSIN", "MAPTM", "GRPIR")
_FEEDER_HUBS = ("NLRTM", "DEHAM", "BEANR")
_FEEDER_MARKETS = frozenset({"SE", "DK", "PL", "PT", "RO", "SI", "GR"})


@dataclass
class RoutePlan:
    """Where and how long: ports are UN/LOCODEs, times are hours from departure."""

    mode: str
    loading_port: str
    discharge_port: str
    transshipment_ports: list[str] = field(default_factory=list)
    routing_countries: list[str] = field(default_factory=list)
    transit_hours: float = 0.0
    goods_origin: str = ""
    embargo: dict[str, str] | None = None


class RoutePlanner:
    """Draws plausible routes from the lanes of :class:`WorldTables`."""

    def __init__(self, ref: ReferenceData, tables: WorldTables) -> None:
        self.ref = ref
        self.tables = tables
        self.air_hubs = tuple(c for c in _AIR_HUBS if c in ref.ports and ref.ports[c].is_airport)
        hubs = {h for o in tables.origins.values() for h in o.hubs} | set(_DETOUR_HUBS)
        self.detour_hubs = sorted(h for h in hubs if h in ref.ports and ref.ports[h].is_seaport)

    def _country(self, locode: str) -> str:
        return locode[:2]

    def plan(self, mode: str, origin: str, destination: str, rng: random.Random, loading: str | None = None) -> RoutePlan:
        """A route of ``mode`` from a country of origin to an EU destination country."""
        o = self.tables.origins[origin]
        d = self.tables.destinations[destination]
        loading = loading or draws.choice(rng, o.ports[mode])
        discharge = draws.choice(rng, d.ports[mode])
        hubs: list[str] = []
        if mode == "SEA":
            if o.hubs:
                r = rng.random()
                n = 0 if r < 0.45 else 1 if r < 0.9 else 2
                hubs = [h for h in rng.sample(o.hubs, min(n, len(o.hubs))) if h not in (loading, discharge)]
            if destination in _FEEDER_MARKETS and origin in _FAR and rng.random() < 0.5:
                feeder = draws.choice(rng, [h for h in _FEEDER_HUBS if h in self.ref.ports])
                if feeder not in hubs:
                    hubs.append(feeder)
            lo, hi = _SEA_DAYS.get(origin, (14, 30))
            hours = rng.uniform(lo, hi) * 24 + 36 * len(hubs)
        elif mode == "AIR":
            if origin in _FAR and rng.random() < 0.3 and self.air_hubs:
                hubs = [draws.choice(rng, self.air_hubs)]
                hubs = [h for h in hubs if self._country(h) not in (origin, destination)]
            hours = rng.uniform(8, 16) if origin in _FAR else rng.uniform(2, 9)
            hours += rng.uniform(4, 20) * len(hubs)
        elif mode == "RAIL":
            hours = (rng.uniform(16, 24) if origin in ("CN", "KZ") else rng.uniform(2, 6)) * 24
        else:
            hours = rng.uniform(18, 96)
        via = {"ROAD": o.road_via, "RAIL": o.rail_via}.get(mode, ())
        routing = [origin, *(self._country(h) for h in hubs), *via, destination]
        return RoutePlan(
            mode=mode,
            loading_port=loading,
            discharge_port=discharge,
            transshipment_ports=hubs,
            routing_countries=list(dict.fromkeys(routing)),
            transit_hours=hours,
            goods_origin=origin,
        )

    def circuitous(self, plan: RoutePlan, destination: str, rng: random.Random) -> RoutePlan:
        """A planted ROUTE_ANOMALY: the usual loading port, but relayed through two or three
        hubs no service from that origin calls at (e.g. Shanghai to Hamburg via Colon)."""
        usual = set(self.tables.origins[plan.goods_origin].hubs) if plan.goods_origin in self.tables.origins else set()
        candidates = [
            h for h in self.detour_hubs
            if h not in usual and h[:2] not in (plan.goods_origin, destination) and h != plan.loading_port
        ]
        hubs = rng.sample(candidates, min(len(candidates), 2 if rng.random() < 0.6 else 3))
        routing = [plan.goods_origin, *(h[:2] for h in hubs), destination]
        return RoutePlan(
            plan.mode, plan.loading_port, plan.discharge_port, hubs, list(dict.fromkeys(routing)),
            plan.transit_hours + rng.uniform(10, 20) * 24, goods_origin=plan.goods_origin,
        )

    def embargo_route(self, destination: str, rng: random.Random) -> RoutePlan:
        """A planted EMBARGO_ROUTE: one of four realistic evasion patterns."""
        t = self.tables
        d = t.destinations[destination]
        variants = []
        if d.ports["SEA"]:
            variants += ["diverted_origin", "embargoed_loading", "embargoed_transshipment"]
        if d.ports["RAIL"] and t.origins.get("CN") and t.origins["CN"].ports["RAIL"]:
            variants.append("northern_rail_corridor")
        if d.ports["AIR"]:
            variants.append("embargoed_airport")
        variant = draws.choice(rng, variants)
        if variant == "diverted_origin":
            country = draws.choice(rng, [c for c, hubs in t.embargo_diversion.items() if hubs])
            hub = draws.choice(rng, t.embargo_diversion[country])
            discharge = draws.choice(rng, d.ports["SEA"])
            days = rng.uniform(8, 30)
            return RoutePlan(
                "SEA", hub, discharge, [], list(dict.fromkeys([country, hub[:2], destination])),
                days * 24, goods_origin=country,
                embargo={"variant": variant, "country": country, "field": "goods.origin_country"},
            )
        if variant == "embargoed_loading":
            country = draws.choice(rng, [c for c, ports in t.embargo_ports["SEA"].items() if ports])
            loading = draws.choice(rng, t.embargo_ports["SEA"][country])
            discharge = draws.choice(rng, d.ports["SEA"])
            return RoutePlan(
                "SEA", loading, discharge, [], [country, destination], rng.uniform(6, 30) * 24,
                goods_origin=country,
                embargo={"variant": variant, "country": country, "field": "route.loading_port"},
            )
        if variant == "embargoed_transshipment":
            # Ordinary goods from a normal origin, but relayed in an embargoed port.
            origin = draws.choice(rng, [c for c, o in t.origins.items() if o.ports["SEA"] and c in _FAR])
            country = draws.choice(rng, [c for c, ports in t.embargo_ports["SEA"].items() if ports and c in ("IR", "SY", "RU")])
            hub = draws.choice(rng, t.embargo_ports["SEA"][country])
            loading = draws.choice(rng, t.origins[origin].ports["SEA"])
            discharge = draws.choice(rng, d.ports["SEA"])
            return RoutePlan(
                "SEA", loading, discharge, [hub], [origin, country, destination], rng.uniform(30, 45) * 24,
                goods_origin=origin,
                embargo={"variant": variant, "country": country, "field": "route.transshipment_ports"},
            )
        if variant == "northern_rail_corridor":
            loading = draws.choice(rng, t.origins["CN"].ports["RAIL"])
            discharge = draws.choice(rng, d.ports["RAIL"])
            routing = list(dict.fromkeys(["CN", "KZ", "RU", "BY", "PL", destination]))
            return RoutePlan(
                "RAIL", loading, discharge, [], routing, rng.uniform(14, 20) * 24, goods_origin="CN",
                embargo={"variant": variant, "country": draws.choice(rng, ["RU", "BY"]), "field": "route.routing_countries"},
            )
        country = draws.choice(rng, [c for c, ports in t.embargo_ports["AIR"].items() if ports])
        loading = draws.choice(rng, t.embargo_ports["AIR"][country])
        discharge = draws.choice(rng, d.ports["AIR"])
        return RoutePlan(
            "AIR", loading, discharge, [], [country, destination], rng.uniform(4, 12), goods_origin=country,
            embargo={"variant": variant, "country": country, "field": "route.loading_port"},
        )
