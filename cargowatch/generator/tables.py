"""The generator's data tables (``cargowatch/defaults/generator_*.yaml``), checked against
the reference data.

Every port code in the tables is looked up in UN/LOCODE: one that is unknown, or lacks
the function its mode needs (1 sea port, 4 airport, 2 or 3 for rail and road), is
dropped and reported in :attr:`WorldTables.dropped`, so generated traffic only ever
names real, fitting locations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from enrichers.refdata import Port, ReferenceData

DEFAULTS_DIR = Path(__file__).resolve().parent.parent / "defaults"
GOODS_TABLE = DEFAULTS_DIR / "generator_goods.yaml"
WORLD_TABLE = DEFAULTS_DIR / "generator_world.yaml"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_Loader)  # noqa: S506 - a safe loader


MODE_KEYS = {"SEA": "sea", "AIR": "air", "ROAD": "road", "RAIL": "rail"}


def _heading_profiles(spec: dict[str, Any], chapters: dict[str, ChapterProfile]) -> dict[str, ChapterProfile]:
    out: dict[str, ChapterProfile] = {}
    for heading, override in spec.items():
        base = chapters.get(str(heading)[:2])
        if base is None:
            continue
        changes: dict[str, Any] = {}
        for key in ("usd_per_kg", "kg_per_package"):
            if key in override:
                changes[key] = (float(override[key][0]), float(override[key][1]))
        if "packages" in override:
            changes["packages"] = tuple(override["packages"])
        out[str(heading)] = dataclasses.replace(base, **changes)
    return out


def port_fits(port: Port, mode: str) -> bool:
    """Whether a UN/LOCODE location has the function a mode needs."""
    if mode == "SEA":
        return port.is_seaport
    if mode == "AIR":
        return port.is_airport
    # Land transport: many inland terminals are flagged rail (2) or road (3) only.
    return port.is_road or port.is_rail


@dataclass(frozen=True)
class ChapterProfile:
    """Plausible shape of goods of one HS chapter."""

    chapter: str
    share: float
    usd_per_kg: tuple[float, float]
    kg_per_package: tuple[float, float]
    packages: tuple[str, ...]
    modes: dict[str, float]
    words: dict[str, tuple[str, ...]]
    subheadings: tuple[str, ...]


@dataclass(frozen=True)
class CountryLanes:
    """Where one country's traffic leaves from or arrives at, per mode."""

    country: str
    share: float
    locale: str
    ports: dict[str, tuple[str, ...]]  # mode -> LOCODEs
    hubs: tuple[str, ...] = ()
    road_via: tuple[str, ...] = ()
    rail_via: tuple[str, ...] = ()
    chapters: tuple[str, ...] = ()

    def modes(self) -> list[str]:
        return [m for m, codes in self.ports.items() if codes]


@dataclass
class WorldTables:
    """Goods profiles, lanes, carriers and embargo scenarios, all checked."""

    chapters: dict[str, ChapterProfile]
    dual_use: tuple[str, ...]
    un_numbers: dict[str, str]
    package_max_kg: dict[str, float]
    destinations: dict[str, CountryLanes]
    origins: dict[str, CountryLanes]
    embargoed_countries: tuple[str, ...]
    embargo_ports: dict[str, dict[str, tuple[str, ...]]]  # mode -> country -> LOCODEs
    embargo_chapters: dict[str, tuple[str, ...]]
    embargo_diversion: dict[str, tuple[str, ...]]
    sea_carriers: list[dict[str, Any]]
    airlines: list[dict[str, Any]]
    forwarders: list[dict[str, Any]]
    road_carriers: list[dict[str, Any]]
    rail_operators: list[dict[str, Any]]
    legal_forms: dict[str, tuple[str, ...]]
    dual_use_words: dict[str, tuple[str, ...]]
    dual_use_subheadings: tuple[str, ...]
    industry_words: dict[str, tuple[str, ...]]
    heading_profiles: dict[str, ChapterProfile] = field(default_factory=dict)
    streets: dict[str, dict[str, Any]] = field(default_factory=dict)
    latin_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)

    @classmethod
    def load(
        cls,
        ref: ReferenceData,
        goods_path: str | Path | None = None,
        world_path: str | Path | None = None,
    ) -> WorldTables:
        """Read both tables and keep only what the reference data confirms."""
        goods = _read_yaml(Path(goods_path or GOODS_TABLE))
        world = _read_yaml(Path(world_path or WORLD_TABLE))
        dropped: list[str] = []

        by_chapter: dict[str, list[str]] = {}
        for code in ref.hs_descriptions:
            if len(code) == 6:
                by_chapter.setdefault(code[:2], []).append(code)
        dual_use = tuple(str(h) for h in goods["dual_use_headings"])
        excluded = dual_use + tuple(str(h) for h in goods.get("exclude_headings") or ())
        chapters: dict[str, ChapterProfile] = {}
        for chapter, spec in goods["chapters"].items():
            chapter = str(chapter)
            subs = tuple(
                c for c in sorted(by_chapter.get(chapter, ())) if not c.startswith(excluded)
            )
            if not subs:
                dropped.append(f"chapter {chapter}: no HS subheadings in the reference data")
                continue
            words = {
                str(h): tuple(w)
                for h, w in (spec.get("words") or {}).items()
                if any(s.startswith(str(h)) for s in subs)
            }
            chapters[chapter] = ChapterProfile(
                chapter=chapter,
                share=float(spec["share"]),
                usd_per_kg=(float(spec["usd_per_kg"][0]), float(spec["usd_per_kg"][1])),
                kg_per_package=(float(spec["kg_per_package"][0]), float(spec["kg_per_package"][1])),
                packages=tuple(spec["packages"]),
                modes={str(k): float(v) for k, v in spec["modes"].items()},
                words=words,
                subheadings=subs,
            )

        def keep(codes: list[str] | None, mode: str, where: str) -> tuple[str, ...]:
            kept = []
            for code in codes or ():
                port = ref.ports.get(code)
                if port is None:
                    dropped.append(f"{where}: {code} is not a UN/LOCODE")
                elif not port_fits(port, mode):
                    dropped.append(f"{where}: {code} ({port.name}) has no {mode} function")
                else:
                    kept.append(code)
            return tuple(kept)

        def lanes(section: dict[str, Any]) -> dict[str, CountryLanes]:
            out: dict[str, CountryLanes] = {}
            for country, spec in section.items():
                ports = {
                    mode: keep(spec.get(key), mode, f"{country} {key}")
                    for mode, key in MODE_KEYS.items()
                }
                out[country] = CountryLanes(
                    country=country,
                    share=float(spec["share"]),
                    locale=str(spec.get("locale") or "en_US"),
                    ports=ports,
                    hubs=keep(spec.get("hubs"), "SEA", f"{country} hubs"),
                    road_via=tuple(spec.get("road_via") or ()),
                    rail_via=tuple(spec.get("rail_via") or ()),
                    chapters=tuple(str(c) for c in spec.get("chapters") or () if str(c) in chapters),
                )
            return out

        emb = world["embargoed"]
        embargo_ports = {
            "SEA": {c: keep(v, "SEA", f"embargo {c}") for c, v in emb["sea"].items()},
            "AIR": {c: keep(v, "AIR", f"embargo {c}") for c, v in emb["air"].items()},
            "LAND": {c: keep(v, "ROAD", f"embargo {c}") for c, v in emb["land"].items()},
        }
        return cls(
            chapters=chapters,
            dual_use=dual_use,
            un_numbers={str(k): str(v) for k, v in goods.get("un_numbers", {}).items()},
            package_max_kg={str(k): float(v) for k, v in goods["package_max_kg"].items()},
            destinations=lanes(world["destinations"]),
            origins=lanes(world["origins"]),
            embargoed_countries=tuple(emb["countries"]),
            embargo_ports=embargo_ports,
            embargo_chapters={c: tuple(str(x) for x in v if str(x) in chapters) for c, v in emb["chapters"].items()},
            embargo_diversion={c: keep(v, "SEA", f"diversion {c}") for c, v in emb["diversion"].items()},
            sea_carriers=list(world["sea_carriers"]),
            airlines=list(world["airlines"]),
            forwarders=list(world["forwarders"]),
            road_carriers=list(world["road_carriers"]),
            rail_operators=list(world["rail_operators"]),
            legal_forms={c: tuple(v) for c, v in world["legal_forms"].items()},
            dual_use_words={str(k): tuple(v) for k, v in goods.get("dual_use_words", {}).items()},
            dual_use_subheadings=tuple(
                c for c in sorted(ref.hs_descriptions) if len(c) == 6 and c.startswith(dual_use)
            ),
            industry_words={str(k): tuple(v) for k, v in goods.get("industry_words", {}).items()},
            heading_profiles=_heading_profiles(goods.get("headings") or {}, chapters),
            streets={str(k): dict(v) for k, v in (world.get("streets") or {}).items()},
            latin_names={str(k): tuple(v) for k, v in (world.get("latin_names") or {}).items()},
            dropped=dropped,
        )
