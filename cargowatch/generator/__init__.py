"""Realistic synthetic advance cargo manifests, with labelled planted risks.

Python API::

    from cargowatch.generator import generate, GeneratorConfig, RiskRates
    for manifest, label in generate(10_000, seed=7, ref=ref, config=GeneratorConfig()):
        ...  # manifest: dict in the contract's JSON form; label: Label

    gen = ManifestGenerator(ref, config, seed=7)   # when you also want the trader register
    gen.register()                                 # [{trader_id, name, country, aeo_certificate, ...}]
    gen.records(10_000)                            # the same stream as generate()
    gen.records(None)                              # an endless stream (live traffic)

``cargowatch generate --count N --seed S --out F.jsonl [--labels L.jsonl]`` writes the
same records, one JSON object per line.

What the traffic looks like
---------------------------
Importers (consignees) in EU member states buy from foreign suppliers (consignors) over
usual lanes; importers are drawn Zipf-like, so a small share of returning traders files
most manifests, each with a stable ``identifier`` (EORI-style trader id), country, usual
HS chapters, usual mode and loading port. Goods are real HS 2022 subheadings with
descriptions from the HS text plus shipper product words, weights per package and values
per kg from ``cargowatch/defaults/generator_goods.yaml``; ports are UN/LOCODEs with the
mode's function (checked against the reference data), with transshipment hubs
(SGSIN, MYPKG, LKCMB, AEJEA, EGPSD, MAPTM, PAONX, ...). SEA filings are MASTER_BL or
HOUSE_BL with ISO 6346 containers and a vessel with a valid IMO number; AIR filings are
MASTER_AWB / HOUSE_AWB (mod-7 check digit on the IATA number) with a flight number and
no containers; ROAD is CMR, RAIL is CIM (with containers). Sea filings come 2–10 days
before departure, air 2–30 h before. A share of records are amendments (version 2 of an
earlier manifest) and exact replays (same id and version).

Planted risks and invalid records are drawn per new manifest at the rates of
:class:`RiskRates`; an invalid record carries exactly one rejection code and no risks.

Label schema (one JSON line per record, same order as the manifests)
--------------------------------------------------------------------
=======================  =================================================================
``record``               0-based position of the record in the output
``manifest_id``          the record's manifest_id (for SCHEMA faults: as generated)
``version``              the record's version
``mode``                 SEA / AIR / ROAD / RAIL
``risks``                sorted planted risk types, each the rule id expected to fire:
                         WATCHLIST_PARTY, EMBARGO_ROUTE, ROUTE_ANOMALY, DUAL_USE_GOODS, UNDERVALUATION,
                         DESCRIPTION_MISMATCH, NEW_TRADER, LATE_FILING, LATE_AMENDMENT,
                         WEIGHT_ANOMALY, TRUSTED_TRADER ([] for invalid records)
``invalid_code``         null, or the one contract §2 code planted (SCHEMA, REQUIRED,
                         CONTAINER_CHECK_DIGIT, IMO_CHECK_DIGIT, AWB_CHECK_DIGIT, HS_CODE,
                         COUNTRY, LOCODE, CURRENCY, VAGUE_DESCRIPTION, PARTY_NAME,
                         QUANTITY, DATES)
``invalid_path``         null, or where the fault is (``goods[1].hs_code``, ``route``...)
``watchlist_entry``      null, or ``{list_id, entry_id, name, variant, variant_kind,
                         party_role}``: the listed entry, its spelling on the manifest
                         and how it was varied (exact, transliteration, word_order,
                         legal_form, typo, dropped_middle_name, punctuation)
``details``              string map of specifics: ``embargo_variant``/``embargo_country``/
                         ``embargo_field``, ``route_anomaly_hubs``, ``dual_use_line``/``dual_use_hs``,
                         ``weight_variant``, ``undervaluation_factor``,
                         ``mismatch_line``/``described_as_hs``, ``amendment`` (what v2 changed)
``consignee_id``         identifier of the CONSIGNEE party (null if none)
``consignor_id``         identifier of the CONSIGNOR party
``consignee_first_seen`` true when this consignee id appears for the first time in the run
``consignor_first_seen`` same for the consignor
``amends_version``       null, or the version this amendment replaces
``replay``               true for an exact resend of an earlier record (same id+version)
=======================  =================================================================

Semantics worth knowing: NEW_TRADER means a consignee or consignor id that is neither in
the trader register (``--traders`` output) nor seen earlier in the run; TRUSTED_TRADER
means an AEO-certified consignee or consignor; LATE_FILING on an amendment refers to the
original filing (a late amendment is filed after departure by definition and carries
LATE_AMENDMENT instead); risk rates apply to new valid manifests.
"""

from cargowatch.generator.config import (
    INVALID_CODES,
    RISK_TYPES,
    GeneratorConfig,
    GeneratorConfigError,
    RiskRates,
)
from cargowatch.generator.engine import ManifestGenerator, generate, is_late_filing
from cargowatch.generator.labels import Label, WatchlistLabel, decode_labels, encode_label
from cargowatch.generator.output import write_jsonl

__all__ = [
    "INVALID_CODES",
    "RISK_TYPES",
    "GeneratorConfig",
    "GeneratorConfigError",
    "Label",
    "ManifestGenerator",
    "RiskRates",
    "WatchlistLabel",
    "decode_labels",
    "encode_label",
    "generate",
    "is_late_filing",
    "write_jsonl",
]
