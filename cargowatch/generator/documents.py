"""Transport documents, conveyances, containers and filers, with valid check digits.

Bills of lading carry the carrier's SCAC-like prefix, house documents the forwarder's
reference; master air waybills are IATA ``PPP-SSSSSSSC`` numbers with the mod-7 check
digit; containers are ISO 6346 numbers of the carrier's or a lessor's owner code;
vessels have valid IMO numbers. Check digits come from ``schemas.validation.checkdigits``.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

from cargowatch.generator import draws
from cargowatch.generator.tables import WorldTables
from schemas.validation.checkdigits import make_awb, make_container, make_imo

# Equipment owner codes (BIC prefixes without the category letter).
_CARRIER_OWNERS: dict[str, tuple[str, ...]] = {
    "MSCU": ("MSC", "MED", "MSD"), "MAEU": ("MSK", "MRK", "MAE"), "CMDU": ("CMA", "CGM", "APZ"),
    "COSU": ("CSN", "CBH", "CCL"), "HLCU": ("HLX", "HLB", "UAC"), "ONEY": ("ONE", "NYK", "KKF"),
    "EGLV": ("EGH", "EIS", "EMC"), "YMLU": ("YML", "YMM"), "HDMU": ("HDM", "HMM"), "ZIMU": ("ZIM", "ZCS"),
}
_LESSORS = ("TGH", "TCN", "TRL", "FCI", "SEG", "GES", "CAI", "BMO", "TEM", "DFS", "TCL", "TRH")
_REEFER_CHAPTERS = frozenset({"02", "03", "08", "16", "04"})
# (ISO 6346 size/type, max payload kg)
DRY_20, DRY_40, HC_40, REEFER_40 = ("22G1", 28200), ("42G1", 26700), ("45G1", 26500), ("45R1", 29000)


def stable_id(country: str, key: str) -> str:
    """An EORI-style id derived from a name, the same in every run."""
    return f"{country}{zlib.crc32(key.encode()) % 10**12:012d}"


class DocumentMaker:
    """Numbers and conveyances for each mode; all draws come from the caller's ``rng``."""

    def __init__(self, tables: WorldTables, seed: int) -> None:
        self.tables = tables
        vessel_rng = random.Random(seed ^ 0x5EA)
        self.vessels: dict[str, list[tuple[str, str]]] = {}
        for carrier in tables.sea_carriers:
            self.vessels[carrier["code"]] = [
                (name, make_imo(vessel_rng.randrange(900000, 989999))) for name in carrier["vessels"]
            ]
        self.filers: dict[str, dict[str, str]] = {}
        for group, country_key in (
            ("sea_carriers", None), ("airlines", None), ("forwarders", "country"),
            ("road_carriers", None), ("rail_operators", None),
        ):
            for item in getattr(tables, group):
                country = item.get(country_key, "") if country_key else ""
                self.filers[f"{group}/{item['code']}"] = {
                    "id": stable_id(country or "XX", f"{group}/{item['code']}") if country else f"{group[:3].upper()}{item['code']}",
                    "name": item["name"],
                }
        self._serial = 0

    def _next(self) -> int:
        self._serial += 1
        return self._serial

    def manifest_id(self, destination: str, year: int, rng: random.Random) -> str:
        """An ICS2-style MRN: 2-digit year, country, 14 characters (a serial makes it unique)."""
        serial = self._next()
        tail = _base36(rng.getrandbits(31), 6)
        return f"{year % 100:02d}{destination}I{_base36(serial, 7)}{tail}"

    # -- per mode -------------------------------------------------------------------
    def sea(self, loading: str, chapters: tuple[str, ...], n_containers: int, house: bool, lcl: bool,
            rng: random.Random) -> dict[str, Any]:
        carrier = draws.choice(rng, self.tables.sea_carriers)
        vessel, imo = draws.choice(rng, self.vessels[carrier["code"]])
        mbl = f"{carrier['bl_prefix']}{draws.randrange(rng, 10**8, 10**9)}{rng.randrange(10)}"
        reefer = any(c in _REEFER_CHAPTERS for c in chapters)
        containers = []
        owners = _CARRIER_OWNERS.get(carrier["code"], ("MSK",))
        for _ in range(n_containers):
            owner = draws.choice(rng, owners) if rng.random() < 0.6 else draws.choice(rng, _LESSORS)
            size, _cap = REEFER_40 if reefer else draws.choice(rng, (DRY_20, DRY_40, HC_40, HC_40))
            containers.append({
                "number": make_container(owner, draws.randrange(rng, 0, 10**6)),
                "seal_numbers": [f"{carrier['code'][:2]}{draws.randrange(rng, 10**6, 10**7)}"],
                "size_type": size,
            })
        conveyance = {
            "carrier_code": carrier["code"], "vessel_imo": imo, "vessel_name": vessel,
            "voyage": f"{draws.randrange(rng, 100, 600)}{draws.choice(rng, 'WE')}", "flight_number": None,
        }
        document: dict[str, str | None]
        if house:
            fw = draws.choice(rng, self.tables.forwarders)
            document = {"type": "HOUSE_BL", "number": f"{fw['code']}{loading[2:]}{draws.randrange(rng, 10**7, 10**8)}",
                        "master_number": mbl}
            filer = self.filers[f"forwarders/{fw['code']}"]
        else:
            document = {"type": "MASTER_BL", "number": mbl, "master_number": None}
            filer = self.filers[f"sea_carriers/{carrier['code']}"]
        return {"document": document, "conveyance": conveyance, "containers": containers, "filer": filer,
                "lcl": lcl}

    def air(self, loading: str, rng: random.Random) -> dict[str, Any]:
        airline = draws.choice(rng, self.tables.airlines)
        mawb = make_awb(int(airline["awb_prefix"]), draws.randrange(rng, 10**6, 10**7))
        conveyance = {"carrier_code": airline["code"], "vessel_imo": None, "vessel_name": None, "voyage": None,
                      "flight_number": f"{airline['code']}{draws.randrange(rng, 100, 9999)}"}
        document: dict[str, str | None]
        if rng.random() < 0.65:
            fw = draws.choice(rng, self.tables.forwarders)
            document = {"type": "HOUSE_AWB", "number": f"{fw['code']}{loading[2:]}{draws.randrange(rng, 10**6, 10**7)}",
                        "master_number": mawb}
            filer = self.filers[f"forwarders/{fw['code']}"]
        else:
            document = {"type": "MASTER_AWB", "number": mawb, "master_number": None}
            filer = self.filers[f"airlines/{airline['code']}"]
        return {"document": document, "conveyance": conveyance, "containers": [], "filer": filer}

    def road(self, origin: str, rng: random.Random) -> dict[str, Any]:
        haulier = draws.choice(rng, self.tables.road_carriers)
        plate = f"{origin} {draws.randrange(rng, 10, 99)} {''.join(draws.choice(rng, 'ABCDEFGHKLMNPRSTUVZ') for _ in range(3))} {draws.randrange(rng, 100, 999)}"
        conveyance = {"carrier_code": haulier["code"], "vessel_imo": None, "vessel_name": None,
                      "voyage": plate, "flight_number": None}
        document = {"type": "CMR", "number": f"CMR{origin}{draws.randrange(rng, 10**7, 10**8)}", "master_number": None}
        return {"document": document, "conveyance": conveyance, "containers": [],
                "filer": self.filers[f"road_carriers/{haulier['code']}"]}

    def rail(self, origin: str, n_containers: int, rng: random.Random) -> dict[str, Any]:
        operator = draws.choice(rng, self.tables.rail_operators)
        conveyance = {"carrier_code": operator["code"], "vessel_imo": None, "vessel_name": None,
                      "voyage": f"{origin}-EU {draws.randrange(rng, 10000, 99999)}", "flight_number": None}
        containers = []
        for _ in range(n_containers):
            size, _cap = draws.choice(rng, (DRY_40, HC_40, HC_40))
            containers.append({"number": make_container(draws.choice(rng, _LESSORS), draws.randrange(rng, 0, 10**6)),
                               "seal_numbers": [f"RW{draws.randrange(rng, 10**6, 10**7)}"], "size_type": size})
        document = {"type": "CIM", "number": f"{operator['code']}{draws.randrange(rng, 10**8, 10**9)}", "master_number": None}
        return {"document": document, "conveyance": conveyance, "containers": containers,
                "filer": self.filers[f"rail_operators/{operator['code']}"]}


def add_containers(containers: list[dict[str, Any]], total_kg: float, rng: random.Random) -> None:
    """Add lessor containers until ``total_kg`` fits (a heavy load is spread over boxes)."""
    if not containers:
        return
    size = containers[0]["size_type"]
    prefix = containers[0]["seal_numbers"][0][:2] if containers[0]["seal_numbers"] else "SL"
    while total_kg > 0.95 * sum(container_capacity(c["size_type"]) for c in containers) and len(containers) < 60:
        containers.append({
            "number": make_container(draws.choice(rng, _LESSORS), draws.randrange(rng, 0, 10**6)),
            "seal_numbers": [f"{prefix}{draws.randrange(rng, 10**6, 10**7)}"],
            "size_type": size,
        })


def container_capacity(size_type: str | None) -> float:
    """Max payload (kg) of an ISO size/type code used by this generator."""
    for code, cap in (DRY_20, DRY_40, HC_40, REEFER_40):
        if code == size_type:
            return cap
    return 26500.0


def _base36(n: int, width: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(width, "0")
