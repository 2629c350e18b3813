"""The manifest generator: turns traders, lanes, goods and documents into a stream of
manifests (contract §1 JSON form) with ground-truth labels.

Everything is drawn from one ``random.Random(seed)`` in a fixed order, so the same seed,
configuration and reference data give byte-identical output. Faker is only used while
building the trader pool (see :mod:`cargowatch.generator.traders`).
"""

from __future__ import annotations

import itertools
import random
import time
from bisect import bisect
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

import msgspec

from cargowatch.generator import draws
from cargowatch.generator.config import INVALID_CODES, GeneratorConfig
from cargowatch.generator.documents import (
    DocumentMaker,
    add_containers,
    container_capacity,
    stable_id,
)
from cargowatch.generator.goods import GoodsCatalogue
from cargowatch.generator.invalid import MODES_FOR_CODE, plant_invalid
from cargowatch.generator.labels import Label, WatchlistLabel
from cargowatch.generator.routes import RoutePlan, RoutePlanner
from cargowatch.generator.sanctioned import ListedName, load_listed_names, name_variant
from cargowatch.generator.tables import WorldTables
from cargowatch.generator.traders import Consignee, Trader, TraderFactory, TraderPool
from enrichers.refdata import ReferenceData

Manifest = dict[str, Any]
_HOUR = 3600.0
_RECENT = 2000  # how far back amendments and replays reach, in records
_copy_encoder = msgspec.json.Encoder()
_copy_decoder = msgspec.json.Decoder()


def _weighted(values: tuple, weights: tuple[float, ...]) -> tuple[tuple, list[float]]:
    return values, list(accumulate(weights))


def _pick(rng: random.Random, table: tuple[tuple, list[float]]) -> Any:
    values, cum = table
    return values[bisect(cum, rng.random() * cum[-1])]


_CONTAINERS_PER_BL = _weighted((1, 2, 3, 4, 5), (70, 18, 6, 4, 2))
_LINES = _weighted((1, 2, 3, 4, 5, 6, 8), (50, 22, 12, 7, 4, 3, 2))
_WATCH_ROLES = _weighted(("CONSIGNEE", "CONSIGNOR", "NOTIFY", "MANUFACTURER", "SELLER", "BUYER"), (35, 40, 10, 7, 4, 4))


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _deep_copy(manifest: Manifest) -> Manifest:
    return _copy_decoder.decode(_copy_encoder.encode(manifest))


def _party(role: str, trader: Trader, with_aeo: bool = True) -> dict[str, Any]:
    return {
        "role": role,
        "name": trader.name,
        "address": trader.address(),
        "identifier": trader.trader_id,
        "aeo_certificate": trader.aeo_certificate if with_aeo else None,
    }


def is_late_filing(mode: str, filed: float, departure: float) -> bool:
    """LATE_FILING as the contract defines it: sea under 24 h before departure, air after it."""
    if mode == "SEA":
        return departure - filed < 24 * _HOUR
    if mode == "AIR":
        return filed > departure
    return False


class ManifestGenerator:
    """A seeded source of manifests and labels.

    >>> gen = ManifestGenerator(ReferenceData.load(dir), GeneratorConfig(), seed=7)  # doctest: +SKIP
    >>> for manifest, label in gen.records(1000): ...  # doctest: +SKIP
    """

    def __init__(
        self,
        ref: ReferenceData,
        config: GeneratorConfig | None = None,
        seed: int = 0,
        listed: list[ListedName] | None = None,
    ) -> None:
        self.ref = ref
        self.config = config = config or GeneratorConfig()
        self.rates = config.rates
        self.seed = seed
        self.tables = WorldTables.load(ref, config.goods_table, config.world_table)
        self.catalogue = GoodsCatalogue(ref, self.tables)
        self.routes = RoutePlanner(ref, self.tables)
        self.documents = DocumentMaker(self.tables, seed)
        self.factory = TraderFactory(ref, self.tables, seed, config.native_script_share)
        pool_rng = random.Random(f"pool/{seed}")
        self.pool = TraderPool(
            self.factory, self.tables, pool_rng, config.traders, config.suppliers,
            config.zipf_exponent, config.aeo_share,
        )
        self.brokers = {
            country: [
                self.factory.trader(country, ("BROKER",), pool_rng)
                for _ in range(6)
            ]
            for country in sorted(self.tables.destinations)
        }
        self.register_ids = {row["trader_id"] for row in self.pool.register()}
        self.listed = listed
        if self.listed is None and self.rates.watchlist > 0:
            self.listed = load_listed_names(self._watchlist_path(), config.watchlist_format, config.watchlist_list_id)
        if self.rates.watchlist > 0 and not self.listed:
            raise ValueError("the watchlist has no usable names; pass --watchlist with a list of persons or companies")
        self.rng = random.Random(seed)
        self._seen: set[str] = set()
        self._start = config.start.astimezone(UTC).timestamp()
        self._interval = 86400.0 / config.filings_per_day

    def _watchlist_path(self) -> str:
        if self.config.watchlist:
            return self.config.watchlist
        return str(self.ref.directory / "sanctions" / "un" / "UN_consolidated_2026-02-27.xml")

    def register(self) -> list[dict[str, str | None]]:
        """The trader register of the pool (contract §4 JSONL rows)."""
        return self.pool.register()

    # -- the stream ----------------------------------------------------------------
    def records(self, count: int | None) -> Iterator[tuple[Manifest, Label]]:
        """``count`` records (manifests, amendments, replays, invalid filings) with labels;
        an endless stream when ``count`` is None (for live traffic, e.g. the demo)."""
        rng, rates = self.rng, self.rates
        recent_v1: list[tuple[Manifest, Label]] = []  # amendable originals
        recent: list[tuple[Manifest, Label]] = []  # replayable records
        t_amend = rates.amendment
        t_late = t_amend + rates.late_amendment
        t_replay = t_late + rates.replay
        t_invalid = t_replay + rates.invalid
        for i in range(count) if count is not None else itertools.count():
            clock = self._start + i * self._interval + rng.random() * self._interval
            r = rng.random()
            if r < t_late and recent_v1:
                j = rng.randrange(len(recent_v1))
                original, original_label = recent_v1[j]
                recent_v1[j] = recent_v1[-1]
                recent_v1.pop()
                manifest, label = self._amend(original, original_label, i, late=r >= t_amend)
            elif t_late <= r < t_replay and recent:
                manifest, old = recent[rng.randrange(len(recent))]
                label = msgspec.structs.replace(old, record=i, replay=True)
                yield manifest, label
                continue
            elif t_replay <= r < t_invalid:
                code = INVALID_CODES[rng.randrange(len(INVALID_CODES))]
                # A rejected filing gives its traders no screening history: not remembered.
                manifest, label = self._new(i, clock, set(), MODES_FOR_CODE.get(code), remember=False)
                label.invalid_path = plant_invalid(manifest, code, rng, self.ref)
                label.invalid_code = code
                label.risks = []
                yield manifest, label
                continue
            else:
                manifest, label = self._new(i, clock, self._draw_risks(), None)
                recent_v1.append((manifest, label))
                if len(recent_v1) > _RECENT:
                    recent_v1.pop(0)
            recent.append((manifest, label))
            if len(recent) > _RECENT:
                recent.pop(0)
            yield manifest, label

    def _draw_risks(self) -> set[str]:
        rng, rates = self.rng, self.rates
        wanted = set()
        for risk, rate in (
            ("WATCHLIST_PARTY", rates.watchlist),
            ("EMBARGO_ROUTE", rates.embargo_route),
            ("ROUTE_ANOMALY", rates.route_anomaly),
            ("DUAL_USE_GOODS", rates.dual_use),
            ("UNDERVALUATION", rates.undervaluation),
            ("DESCRIPTION_MISMATCH", rates.description_mismatch),
            ("NEW_TRADER", rates.new_trader),
            ("LATE_FILING", rates.late_filing),
            ("WEIGHT_ANOMALY", rates.weight_anomaly),
            ("TRUSTED_TRADER", rates.trusted_trader),
        ):
            if rng.random() < rate:
                wanted.add(risk)
        return wanted

    # -- one new filing --------------------------------------------------------------
    def _new(
        self, i: int, clock: float, wanted: set[str], modes: tuple[str, ...] | None, remember: bool = True
    ) -> tuple[Manifest, Label]:
        rng = self.rng
        details: dict[str, str] = {}
        need = modes or (
            ("SEA",) if "ROUTE_ANOMALY" in wanted else ("SEA", "AIR") if "LATE_FILING" in wanted else None
        )
        consignee: Consignee | None = None
        lane = None
        if "NEW_TRADER" in wanted:
            for _ in range(10):
                consignee = self.pool.new_consignee(rng)
                lane = consignee.lanes[0]
                if not need or lane.mode in need:
                    break
                consignee = None
        for _ in range(40):
            if consignee is not None and lane is not None:
                break
            candidate = self.pool.draw(rng, aeo="TRUSTED_TRADER" in wanted)
            lanes = [ln for ln in candidate.lanes if not need or ln.mode in need]
            if lanes:
                consignee, lane = candidate, draws.choice(rng, lanes)
        assert consignee is not None and lane is not None
        destination = consignee.trader.country
        supplier = lane.supplier

        if "EMBARGO_ROUTE" in wanted and not modes:
            plan = self.routes.embargo_route(destination, rng)
            details.update({f"embargo_{k}": v for k, v in (plan.embargo or {}).items()})
        else:
            usual = self.tables.origins[supplier.country].ports[lane.mode]
            loading = usual[sum(map(ord, supplier.trader_id)) % len(usual)] if rng.random() < 0.85 else None
            plan = self.routes.plan(lane.mode, supplier.country, destination, rng, loading)
            if "ROUTE_ANOMALY" in wanted and plan.mode == "SEA":
                plan = self.routes.circuitous(plan, destination, rng)
                details["route_anomaly_hubs"] = ",".join(plan.transshipment_ports)
        mode = plan.mode

        # Documents and containers
        house = lcl = False
        n_containers = 0
        if mode == "SEA":
            house = rng.random() < 0.45
            lcl = house and rng.random() < 0.5
            n_containers = 1 if lcl else _pick(rng, _CONTAINERS_PER_BL)
        elif mode == "RAIL":
            n_containers = draws.choice(rng, (1, 1, 2))
        chapters = lane.chapters
        if plan.embargo and plan.goods_origin in self.tables.embargo_chapters:
            chapters = self.tables.embargo_chapters[plan.goods_origin] or chapters
        if mode == "SEA":
            parts = self.documents.sea(plan.loading_port, chapters, n_containers, house, lcl, rng)
        elif mode == "AIR":
            parts = self.documents.air(plan.loading_port, rng)
        elif mode == "ROAD":
            parts = self.documents.road(plan.goods_origin or supplier.country, rng)
        else:
            parts = self.documents.rail(plan.goods_origin or supplier.country, n_containers, rng)
        containers = parts["containers"]

        # Goods
        if mode == "AIR":
            total_kg = 5 * (600 ** rng.random())  # 5 kg .. 3 t
        elif mode == "ROAD":
            total_kg = rng.uniform(800, 22000)
        elif lcl:
            total_kg = 150 * (40 ** rng.random())  # 150 kg .. 6 t
        else:
            total_kg = sum(container_capacity(c["size_type"]) * rng.uniform(0.25, 0.9) for c in containers)
        if any(c == "71" for c in chapters) and mode == "AIR":
            total_kg = min(total_kg, rng.uniform(0.5, 60))
        n_lines = _pick(rng, _LINES)
        shares = [rng.uniform(0.2, 1.0) for _ in range(n_lines)]
        total_share = sum(shares)
        origin = plan.goods_origin or supplier.country
        currency = self.catalogue.currency_for(origin, rng)
        goods = []
        for n, share in enumerate(shares):
            for _ in range(5):
                code = self.catalogue.subheading(draws.choice(rng, chapters), rng)
                if mode != "AIR" or not self.catalogue.heavy(code):
                    break
            goods.append(self._line(n + 1, code, total_kg * share / total_share, currency, origin, rng))

        add_containers(containers, sum(g["gross_weight_kg"] for g in goods), rng)

        if "DUAL_USE_GOODS" in wanted:
            code = self.catalogue.strategic_subheading(rng)
            n = rng.randrange(len(goods))
            kg = goods[n]["gross_weight_kg"]
            goods[n] = self._line(n + 1, code, kg, currency, origin, rng)
            details["dual_use_line"] = str(n + 1)
            details["dual_use_hs"] = code
        if "WEIGHT_ANOMALY" in wanted:
            details["weight_variant"] = self._weight_anomaly(goods, containers, currency, rng)
        if "UNDERVALUATION" in wanted:
            factor = rng.uniform(0.03, 0.15)
            for g in goods:
                lo = self.catalogue.profile(g["hs_code"]).usd_per_kg[0]
                g["value_amount"] = max(1.0, self.catalogue.amount(g["gross_weight_kg"] * lo * factor, currency))
            details["undervaluation_factor"] = f"{factor:.3f}"
        if "DESCRIPTION_MISMATCH" in wanted:
            n = rng.randrange(len(goods))
            if details.get("dual_use_line") == str(n + 1) and len(goods) > 1:
                n = (n + 1) % len(goods)
            description, other = self.catalogue.mismatched_description(goods[n]["hs_code"], rng)
            goods[n]["description"] = description
            details["mismatch_line"] = str(n + 1)
            details["described_as_hs"] = other

        # Times
        if mode == "SEA":
            lead = rng.uniform(48, 240)
        elif mode == "AIR":
            lead = rng.uniform(2, 30)
        elif mode == "RAIL":
            lead = rng.uniform(24, 96)
        else:
            lead = rng.uniform(2, 24)
        if "LATE_FILING" in wanted and mode in ("SEA", "AIR"):
            lead = rng.uniform(1, 23) if mode == "SEA" else -rng.uniform(0.5, 12)
        filed = clock
        departure = filed + lead * _HOUR
        arrival = departure + plan.transit_hours * _HOUR

        # Parties
        parties = [_party("CONSIGNOR", supplier), _party("CONSIGNEE", consignee.trader)]
        r = rng.random()
        if r < 0.35:
            parties.append(_party("NOTIFY", consignee.trader))
        elif r < 0.6:
            parties.append(_party("NOTIFY", draws.choice(rng, self.brokers[destination]), with_aeo=False))
        if rng.random() < 0.12:
            makers = self.pool.suppliers.get(supplier.country) or [supplier]
            parties.append(_party("MANUFACTURER", draws.choice(rng, makers), with_aeo=False))
        if rng.random() < 0.06:
            parties.append(_party("SELLER", supplier))
        if rng.random() < 0.06:
            parties.append(_party("BUYER", consignee.trader))
        watch = None
        if "WATCHLIST_PARTY" in wanted and self.listed:
            watch = self._plant_watchlisted(parties, rng)

        manifest: Manifest = {
            "manifest_id": self.documents.manifest_id(destination, time.gmtime(int(filed)).tm_year, rng),
            "version": 1,
            "mode": mode,
            "filed_at": _iso(filed),
            "filer": parts["filer"],
            "document": parts["document"],
            "conveyance": parts["conveyance"],
            "route": {
                "loading_port": plan.loading_port,
                "discharge_port": plan.discharge_port,
                "transshipment_ports": plan.transshipment_ports,
                "routing_countries": plan.routing_countries,
                "departure_at": _iso(departure),
                "arrival_at": _iso(arrival),
            },
            "parties": parties,
            "goods": goods,
            "containers": containers,
            "total_gross_weight_kg": round(sum(g["gross_weight_kg"] for g in goods), 1),
            "total_packages": sum(g["packages"] for g in goods),
        }
        risks = [k for k in wanted if k in ("DUAL_USE_GOODS", "UNDERVALUATION", "DESCRIPTION_MISMATCH", "WEIGHT_ANOMALY")]
        if plan.embargo:
            risks.append("EMBARGO_ROUTE")
        if "route_anomaly_hubs" in details:
            risks.append("ROUTE_ANOMALY")
        if is_late_filing(mode, filed, departure):
            risks.append("LATE_FILING")
        label = Label(record=i, manifest_id=manifest["manifest_id"], version=1, mode=mode, risks=risks,
                      watchlist_entry=watch, details=details)
        if watch:
            label.risks.append("WATCHLIST_PARTY")
        self._finish_label(manifest, label, remember)
        return manifest, label

    def _line(self, n: int, code: str, kg: float, currency: str, origin: str, rng: random.Random) -> dict[str, Any]:
        cat = self.catalogue
        package_type = cat.package_type(code, rng)
        packages, kg = cat.pack(code, package_type, max(kg, 0.5), rng)
        return {
            "line": n,
            "hs_code": cat.extend_code(code, rng),
            "description": cat.description(code, rng),
            "packages": packages,
            "package_type": package_type,
            "gross_weight_kg": kg,
            "value_amount": max(1.0, cat.amount(kg * cat.unit_value_usd(code, rng), currency)),
            "value_currency": currency,
            "origin_country": origin,
            "un_number": cat.un_number(code),
        }

    def _weight_anomaly(self, goods: list[dict], containers: list[dict], currency: str, rng: random.Random) -> str:
        cat = self.catalogue
        if containers and rng.random() < 0.7:
            if rng.random() < 0.6:
                # A few dozen kg declared for whole containers.
                total = rng.uniform(15, 40 * len(containers))
                variant = "underweight_containers"
            else:
                # More than the containers can carry.
                total = sum(container_capacity(c["size_type"]) for c in containers) * rng.uniform(1.4, 2.2)
                variant = "overweight_containers"
            weights = [g["gross_weight_kg"] for g in goods]
            scale = total / sum(weights)
            for g in goods:
                g["gross_weight_kg"] = max(0.5, round(g["gross_weight_kg"] * scale, 1))
                g["packages"] = max(1, min(g["packages"], rng.randint(1, 6))) if scale < 1 else g["packages"]
                usd = g["gross_weight_kg"] * cat.unit_value_usd(g["hs_code"][:6], rng)
                g["value_amount"] = max(1.0, cat.amount(usd, currency))
            return variant
        # One light package type carrying tens of tonnes.
        g = goods[rng.randrange(len(goods))]
        g["packages"] = 1
        g["package_type"] = draws.choice(rng, ("CT", "BX", "BG"))
        g["gross_weight_kg"] = round(rng.uniform(25000, 80000), 1)
        g["value_amount"] = max(1.0, cat.amount(g["gross_weight_kg"] * cat.unit_value_usd(g["hs_code"][:6], rng), currency))
        return "overweight_package"

    def _plant_watchlisted(self, parties: list[dict], rng: random.Random) -> WatchlistLabel:
        assert self.listed
        listed = self.listed[rng.randrange(len(self.listed))]
        variant, how = name_variant(listed.name, listed.kind, rng)
        role = _pick(rng, _WATCH_ROLES)
        # Listed parties without a known country trade from the usual diversion hubs.
        country = listed.country if listed.country in self.ref.countries else draws.choice(rng, ("AE", "TR", "HK", "CN", "MY"))
        trader = self.factory.trader(country, (), rng, trader_id=listed.party_id, name=variant)
        party = _party(role, trader, with_aeo=False)
        for n, p in enumerate(parties):
            if p["role"] == role:
                parties[n] = party
                break
        else:
            parties.append(party)
        return WatchlistLabel(listed.list_id, listed.entry_id, listed.name, variant, how, role)

    def _finish_label(self, manifest: Manifest, label: Label, remember: bool = True) -> None:
        """First-seen flags, NEW_TRADER and TRUSTED_TRADER from the final parties."""
        for p in manifest["parties"]:
            if p["role"] == "CONSIGNEE":
                label.consignee_id = p["identifier"]
                label.consignee_first_seen = p["identifier"] not in self._seen
            elif p["role"] == "CONSIGNOR":
                label.consignor_id = p["identifier"]
                label.consignor_first_seen = p["identifier"] not in self._seen
        new = any(
            pid is not None and first and pid not in self.register_ids
            for pid, first in ((label.consignee_id, label.consignee_first_seen),
                               (label.consignor_id, label.consignor_first_seen))
        )
        label.risks = [r for r in label.risks if r not in ("NEW_TRADER", "TRUSTED_TRADER")]
        if new:
            label.risks.append("NEW_TRADER")
        if any(p["aeo_certificate"] for p in manifest["parties"] if p["role"] in ("CONSIGNEE", "CONSIGNOR")):
            label.risks.append("TRUSTED_TRADER")
        label.risks.sort()
        if remember:
            for pid in (label.consignee_id, label.consignor_id):
                if pid:
                    self._seen.add(pid)

    # -- amendments -------------------------------------------------------------------
    def _amend(self, original: Manifest, original_label: Label, i: int, late: bool) -> tuple[Manifest, Label]:
        rng = self.rng
        m = _deep_copy(original)
        m["version"] = original["version"] + 1
        mode = m["mode"]
        filed0, dep = _epoch(original["filed_at"]), _epoch(m["route"]["departure_at"])
        arr = _epoch(m["route"]["arrival_at"])
        details = {k: v for k, v in original_label.details.items()}
        watch = original_label.watchlist_entry
        if late:
            filed = dep + rng.uniform(2, max(3.0, min(72.0, (arr - dep) / _HOUR / 2))) * _HOUR
            filed = min(filed, arr - _HOUR) if arr - _HOUR > dep else filed
            change = self._late_change(m, watch, rng)
        else:
            lo = filed0 + 0.5 * _HOUR
            hi = dep - (25 * _HOUR if mode == "SEA" and not is_late_filing(mode, filed0, dep) else 0.5 * _HOUR)
            if mode == "AIR" and filed0 > dep:
                hi = filed0 + 6 * _HOUR
            filed = rng.uniform(lo, hi) if hi > lo else lo
            change = self._minor_change(m, watch, rng)
        m["filed_at"] = _iso(filed)
        details["amendment"] = change
        carried = [r for r in original_label.risks if r not in ("NEW_TRADER", "TRUSTED_TRADER", "LATE_FILING")]
        if "LATE_FILING" in original_label.risks:
            carried.append("LATE_FILING")  # LATE_FILING is about the original filing time
        if late:
            carried.append("LATE_AMENDMENT")
        label = Label(record=i, manifest_id=m["manifest_id"], version=m["version"], mode=mode, risks=carried,
                      watchlist_entry=watch, details=details, amends_version=original["version"])
        self._finish_label(m, label)
        return m, label

    def _minor_change(self, m: Manifest, watch: WatchlistLabel | None, rng: random.Random) -> str:
        r = rng.random()
        goods = m["goods"]
        if r < 0.5:
            g = goods[rng.randrange(len(goods))]
            factor = rng.uniform(0.9, 1.1)
            g["gross_weight_kg"] = round(g["gross_weight_kg"] * factor, 1)
            g["value_amount"] = round(g["value_amount"] * factor, 2)
            g["packages"] = max(1, round(g["packages"] * factor))
            m["total_gross_weight_kg"] = round(sum(x["gross_weight_kg"] for x in goods), 1)
            m["total_packages"] = sum(x["packages"] for x in goods)
            return "quantity_corrected"
        if r < 0.75 and m["containers"]:
            c = m["containers"][rng.randrange(len(m["containers"]))]
            c["seal_numbers"] = [c["seal_numbers"][0][:2] + str(draws.randrange(rng, 10**6, 10**7))]
            return "seal_corrected"
        destination = next(p for p in m["parties"] if p["role"] == "CONSIGNEE")["address"]["country"]
        brokers = self.brokers.get(destination)
        if brokers and not (watch and watch.party_role == "NOTIFY"):
            notify = _party("NOTIFY", draws.choice(rng, brokers), with_aeo=False)
            for n, p in enumerate(m["parties"]):
                if p["role"] == "NOTIFY":
                    m["parties"][n] = notify
                    break
            else:
                m["parties"].append(notify)
            return "notify_party_changed"
        return "no_change"

    def _late_change(self, m: Manifest, watch: WatchlistLabel | None, rng: random.Random) -> str:
        parties = m["parties"]
        consignee_index = next(n for n, p in enumerate(parties) if p["role"] == "CONSIGNEE")
        if rng.random() < 0.5 and not (watch and watch.party_role == "CONSIGNEE"):
            country = parties[consignee_index]["address"]["country"]
            candidates = self.pool.by_country.get(country)
            other = draws.choice(rng, candidates).trader if candidates else self.factory.trader(country, (), rng)
            parties[consignee_index] = _party("CONSIGNEE", other)
            for n, p in enumerate(parties):
                if p["role"] in ("NOTIFY", "BUYER") and not (watch and p["name"] == watch.variant):
                    parties[n] = _party(p["role"], other, with_aeo=False)
            return "consignee_changed"
        goods = m["goods"]
        template = goods[-1]
        code = template["hs_code"][:6]
        chapter = code[:2] if code[:2] in self.catalogue.chapters else self.catalogue.random_chapter(rng)
        new_code = self.catalogue.subheading(chapter, rng)
        kg = max(1.0, template["gross_weight_kg"] * rng.uniform(0.1, 0.5))
        line = self._line(len(goods) + 1, new_code, kg, template["value_currency"], template["origin_country"], rng)
        goods.append(line)
        m["total_gross_weight_kg"] = round(sum(x["gross_weight_kg"] for x in goods), 1)
        m["total_packages"] = sum(x["packages"] for x in goods)
        return "goods_line_added"


def generate(
    count: int,
    seed: int = 0,
    ref: ReferenceData | None = None,
    config: GeneratorConfig | None = None,
) -> Iterator[tuple[Manifest, Label]]:
    """``count`` synthetic manifests (contract JSON form, as dicts) with their labels.

    Deterministic: the same ``count``, ``seed``, ``config`` and reference data give the
    same records. ``ref`` defaults to ``Settings.load().refdata``.

    >>> from itertools import islice
    >>> records = generate(100, seed=1)  # doctest: +SKIP
    >>> manifest, label = next(records)  # doctest: +SKIP
    """
    if ref is None:
        from cargowatch.settings import Settings

        ref = ReferenceData.load(Settings.load().refdata)
    return ManifestGenerator(ref, config, seed).records(count)


__all__ = ["ManifestGenerator", "generate", "is_late_filing", "stable_id", "RoutePlan"]
