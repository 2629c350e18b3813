"""Business validation of a decoded manifest: every rejection code of contract §2, all at once.

Pure functions: no Kafka, no clock (the caller passes ``now``), no I/O after the
reference data and configuration are loaded. Every error is a
``ValidationError(code, path, message)`` whose path points into the manifest's JSON form
(``goods[2].hs_code``, ``parties[0].name``, ``route.transshipment_ports[1]``); the whole
record is ``$``. Messages say what is wrong and what to send instead; they never repeat
party names or addresses (they go to logs and dead-letter headers).

Decisions (see also ``cargowatch/defaults/stopwords.yaml``):

- REQUIRED: blank (empty or whitespace) manifest_id, filer id/name, document number,
  party name/city/country, goods description/HS code/currency/origin, port codes or
  container number; no goods lines; no party with a role in ``required.party_roles``
  (CONSIGNOR and CONSIGNEE by default); a HOUSE_BL/HOUSE_AWB without ``master_number``.
  A blank field gets REQUIRED only, never also its format code.
- AWB_CHECK_DIGIT: ``document.number`` of a MASTER_AWB and ``master_number`` of a
  HOUSE_AWB (house waybill numbers are the forwarder's own and carry no check digit).
- IMO_CHECK_DIGIT: ``conveyance.vessel_imo`` when present and not blank.
- HS_CODE: 6–10 ASCII digits whose first six are an HS 2022 subheading (chapter 99
  "not specified" totals of the statistics file are not subheadings).
- CURRENCY: a current ISO 4217 code that money is invoiced in (not XAU, XDR, XXX...).
- QUANTITY: a line's packages or gross weight not positive, a value negative, any
  number NaN or infinite, declared totals not positive, or the totals differing from the
  sum of the lines by more than the tolerance (weight: the larger of 1 kg and 5 % of
  the lines' sum;
  packages: exact) — only compared when every line is itself valid.
- DATES: arrival before departure; filed more than ``max_future_filing_hours`` after
  ``now``; any timestamp before ``earliest_year`` or more than ``max_days_ahead`` after
  ``now`` (year 9999). Timestamps without a time zone are read as UTC.
- SCHEMA (from validation): ``version`` below 1, a manifest_id longer than
  ``max_id_chars``, more goods lines / parties / containers / ports than the limits,
  a description or party name longer than ``max_text_chars``.

>>> from enrichers.refdata import ReferenceData  # doctest: +SKIP
>>> errors = validate(manifest, ReferenceData.load(dir), ValidationConfig.load(), now)  # doctest: +SKIP
>>> [(e.code, e.path) for e in errors]  # doctest: +SKIP
[('HS_CODE', 'goods[0].hs_code')]
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from enrichers.refdata import ReferenceData
from schemas.model import Manifest, ValidationError
from schemas.validation import codes
from schemas.validation.checkdigits import (
    awb_check_digit,
    imo_check_digit,
    is_valid_awb,
    is_valid_container,
    is_valid_imo,
    iso6346_check_digit,
)
from schemas.validation.config import ValidationConfig

_CACHE_LIMIT = 100_000
_HOUSE = frozenset({"HOUSE_BL", "HOUSE_AWB"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INF = math.inf
_CONTAINER_SHAPE = re.compile(r"[A-Z]{3}[UJZR][0-9]{7}\Z")


def _show(value: str, limit: int = 40) -> str:
    """A value quoted for a message, bounded so a hostile value cannot flood headers."""
    if len(value) > limit:
        return repr(value[:limit]) + "..."
    return repr(value)


def _blank(value: str | None) -> bool:
    return not value or value.isspace()


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


class ManifestValidator:
    """Validation rules compiled for one reference-data set and one configuration.

    Build once, call :meth:`validate` per manifest. Lookups are precomputed sets; the
    verdicts on descriptions and party names are memoised (bounded), since filings
    repeat them a lot.
    """

    def __init__(self, ref: ReferenceData, config: ValidationConfig):
        self.ref = ref
        self.config = config
        self.hs_subheadings: frozenset[str] = frozenset(
            c for c in ref.hs_descriptions if len(c) == 6 and c.isdigit() and not c.startswith("99")
        )
        self.ports: frozenset[str] = frozenset(ref.ports)
        self.countries: frozenset[str] = frozenset(ref.countries)
        self.currencies: frozenset[str] = frozenset(ref.currencies) - config.non_invoicing_currencies
        self.required_roles: tuple[str, ...] = tuple(config.required_party_roles)
        self._bounds_now: datetime | None = None
        self._bounds_cached: tuple[datetime, datetime, datetime] = (_EPOCH, _EPOCH, _EPOCH)
        self._good_hs: set[str] = set()
        self._good_imo: set[str] = set()
        self._vague: dict[str, bool] = {}
        self._placeholder: dict[str, bool] = {}
        self._description_matcher = config.description_matcher
        self._name_matcher = config.name_matcher

    # -- memoised text verdicts -------------------------------------------------------
    def is_vague(self, description: str) -> bool:
        """True when the goods description is only stop phrases (see ``stopwords.yaml``)."""
        verdict = self._vague.get(description)
        if verdict is None:
            verdict = self._description_matcher.covers_text(description)
            if len(self._vague) >= _CACHE_LIMIT:
                self._vague.clear()
            self._vague[description] = verdict
        return verdict

    def is_placeholder(self, name: str) -> bool:
        """True when the party name is a placeholder ("unknown", "n/a", "-", ...)."""
        verdict = self._placeholder.get(name)
        if verdict is None:
            verdict = self.config.is_placeholder_name(name)
            if len(self._placeholder) >= _CACHE_LIMIT:
                self._placeholder.clear()
            self._placeholder[name] = verdict
        return verdict

    def _first_sight_description(self, description: str, max_text: int) -> bool:
        """True when the description needs an error (blank, too long or vague); memoised."""
        if not description or description.isspace() or len(description) > max_text:
            return True
        return self.is_vague(description)

    def _first_sight_name(self, name: str, max_text: int) -> bool:
        """True when the party name needs an error (blank, too long or a placeholder); memoised."""
        if not name or name.isspace() or len(name) > max_text:
            return True
        if not self._name_matcher.covers_text(name):
            # Not a placeholder: remember it without asking again.
            if len(self._placeholder) >= _CACHE_LIMIT:
                self._placeholder.clear()
            self._placeholder[name] = False
            return False
        return self.is_placeholder(name)

    def _valid_imo(self, imo: str) -> bool:
        if not is_valid_imo(imo):
            return False
        if len(self._good_imo) >= _CACHE_LIMIT:
            self._good_imo.clear()
        self._good_imo.add(imo)  # ships file again and again
        return True

    # -- the rules ---------------------------------------------------------------------
    def validate(self, manifest: Manifest, now: datetime) -> list[ValidationError]:
        """All errors of one manifest, in the order of its fields; ``[]`` when valid.

        Never raises: a manifest the rules cannot read (e.g. built by hand with wrong
        types) yields one SCHEMA error naming the failure.
        """
        try:
            errors = self._validate(manifest, _utc(now))
        except Exception as exc:  # noqa: BLE001 - a bad record must not stop the batch
            return [
                ValidationError(
                    codes.SCHEMA,
                    "$",
                    f"record could not be validated ({type(exc).__name__}); check that every "
                    f"field has the type of the Manifest schema",
                )
            ]
        limit = self.config.limits.max_errors
        if len(errors) > limit:
            dropped = errors[limit - 1 :]
            errors = errors[: limit - 1]
            errors.append(
                ValidationError(
                    dropped[0].code,
                    "$",
                    f"{len(dropped)} more errors not listed (at most {limit} per rejection); "
                    f"fix the ones above and file again",
                )
            )
        return errors

    def _validate(self, m: Manifest, now: datetime) -> list[ValidationError]:
        errors: list[ValidationError] = []
        add = errors.append
        E = ValidationError
        cfg = self.config
        limits = cfg.limits
        max_text = limits.max_text_chars

        manifest_id = m.manifest_id
        if not manifest_id or manifest_id.isspace():
            add(E(codes.REQUIRED, "manifest_id", "manifest_id is blank; send the filing's unique id"))
        elif len(manifest_id) > limits.max_id_chars:
            add(
                E(
                    codes.SCHEMA,
                    "manifest_id",
                    f"manifest_id is {len(m.manifest_id)} characters (limit {limits.max_id_chars}); send the filing's id",
                )
            )
        if m.version < 1:
            add(E(codes.SCHEMA, "version", f"version {m.version} is below 1; the original filing is 1, each amendment +1"))

        self._dates(m, now, add)

        filer = m.filer
        filer_id, filer_name = filer.id, filer.name
        if not filer_id or filer_id.isspace():
            add(E(codes.REQUIRED, "filer.id", "filer.id is blank; send the filer's EORI or carrier id"))
        if not filer_name or filer_name.isspace():
            add(E(codes.REQUIRED, "filer.name", "filer.name is blank; send the filer's registered name"))

        self._document(m, add)

        imo = m.conveyance.vessel_imo
        if imo and imo not in self._good_imo and not imo.isspace() and not self._valid_imo(imo):
            digits = imo.strip().removeprefix("IMO").strip()
            if len(digits) == 7 and digits.isascii() and digits.isdigit():
                msg = (
                    f"vessel IMO number {_show(imo)} fails its check digit "
                    f"(expected {imo_check_digit(digits[:6])}); check the number against the ship's certificate"
                )
            else:
                msg = f"vessel IMO number {_show(imo)} is not 7 digits (optionally prefixed 'IMO'), e.g. 9074729"
            add(E(codes.IMO_CHECK_DIGIT, "conveyance.vessel_imo", msg))

        self._route(m, add)
        self._parties(m, add, max_text)
        self._goods(m, add, max_text)
        self._containers(m, add)
        return errors

    def _bounds(self, now: datetime) -> tuple[datetime, datetime, datetime]:
        """(earliest plausible, latest plausible, latest filing time) for this clock."""
        if now is not self._bounds_now:
            limits = self.config.dates
            self._bounds_cached = (
                datetime(limits.earliest_year, 1, 1, tzinfo=UTC),
                now + timedelta(days=limits.max_days_ahead),
                now + timedelta(hours=limits.max_future_filing_hours),
            )
            self._bounds_now = now
        return self._bounds_cached

    def _dates(self, m: Manifest, now: datetime, add) -> None:
        earliest_ts, horizon, latest_filing = self._bounds(now)
        route = m.route
        filed, dep, arr = m.filed_at, route.departure_at, route.arrival_at
        try:
            if (
                earliest_ts <= filed <= latest_filing
                and earliest_ts <= dep <= horizon
                and earliest_ts <= arr <= horizon
                and dep <= arr
            ):
                return
        except TypeError:  # a naive timestamp: read it as UTC below
            pass
        self._dates_slow(m, now, add)

    def _dates_slow(self, m: Manifest, now: datetime, add) -> None:
        E = ValidationError
        limits = self.config.dates
        earliest_ts, horizon, latest_filing = self._bounds(now)
        earliest = limits.earliest_year
        sane: dict[str, datetime] = {}
        for path, ts in (
            ("filed_at", m.filed_at),
            ("route.departure_at", m.route.departure_at),
            ("route.arrival_at", m.route.arrival_at),
        ):
            ts = _utc(ts)
            if ts < earliest_ts or ts > horizon:
                add(
                    E(
                        codes.DATES,
                        path,
                        f"{path} {ts.isoformat()} is not a plausible date (before {earliest} or more "
                        f"than {limits.max_days_ahead:g} days ahead); send the real UTC timestamp",
                    )
                )
            else:
                sane[path] = ts
        filed = sane.get("filed_at")
        if filed is not None and filed > latest_filing:
            hours = (filed - now).total_seconds() / 3600
            add(
                E(
                    codes.DATES,
                    "filed_at",
                    f"filed_at is {hours:.1f} h in the future (limit {limits.max_future_filing_hours:g} h); "
                    f"send the time the filing was actually submitted, in UTC",
                )
            )
        dep, arr = sane.get("route.departure_at"), sane.get("route.arrival_at")
        if dep is not None and arr is not None and arr < dep:
            add(
                E(
                    codes.DATES,
                    "route.arrival_at",
                    f"arrival {arr.isoformat()} is before departure {dep.isoformat()}; "
                    f"check both timestamps (UTC)",
                )
            )

    def _document(self, m: Manifest, add) -> None:
        E = ValidationError
        doc = m.document
        number = doc.number
        if not number or number.isspace():
            add(E(codes.REQUIRED, "document.number", "document.number is blank; send the transport document number"))
        elif doc.type == "MASTER_AWB":
            self._awb(number, "document.number", add)
        master = doc.master_number
        if doc.type in _HOUSE:
            if _blank(master):
                if self.config.house_master_number:
                    add(
                        E(
                            codes.REQUIRED,
                            "document.master_number",
                            f"a {doc.type} must name its master document; send master_number",
                        )
                    )
            elif doc.type == "HOUSE_AWB":
                self._awb(master, "document.master_number", add)  # type: ignore[arg-type]

    @staticmethod
    def _awb(number: str, path: str, add) -> None:
        if is_valid_awb(number):
            return
        plain = number.strip().replace("-", "")
        if len(plain) == 11 and plain.isascii() and plain.isdigit():
            msg = (
                f"air waybill {_show(number)} fails its mod-7 check digit (expected "
                f"{awb_check_digit(plain[3:10])}); check the number on the waybill"
            )
        else:
            msg = f"air waybill {_show(number)} is not 3+8 digits; write it as 020-12345675 or 02012345675"
        add(ValidationError(codes.AWB_CHECK_DIGIT, path, msg))

    def _route(self, m: Manifest, add) -> None:
        E = ValidationError
        route = m.route
        ports = self.ports
        if route.loading_port not in ports or route.discharge_port not in ports:
            for path, code in (("route.loading_port", route.loading_port), ("route.discharge_port", route.discharge_port)):
                if _blank(code):
                    add(E(codes.REQUIRED, path, f"{path} is blank; send the UN/LOCODE, e.g. NLRTM"))
                elif code not in ports:
                    add(E(codes.LOCODE, path, f"{_show(code)} is not a known UN/LOCODE; send 5 characters, e.g. NLRTM"))
        tports, rcountries = route.transshipment_ports, route.routing_countries
        if not tports and not rcountries:
            return
        max_ports = self.config.limits.max_ports
        if len(tports) > max_ports:
            add(E(codes.SCHEMA, "route.transshipment_ports", f"{len(tports)} transshipment ports exceed the limit of {max_ports}"))
        else:
            for i, code in enumerate(tports):
                if code not in ports:
                    add(
                        E(
                            codes.LOCODE,
                            f"route.transshipment_ports[{i}]",
                            f"{_show(code)} is not a known UN/LOCODE; send 5 characters, e.g. SGSIN",
                        )
                    )
        if len(rcountries) > max_ports:
            add(E(codes.SCHEMA, "route.routing_countries", f"{len(rcountries)} routing countries exceed the limit of {max_ports}"))
        else:
            countries = self.countries
            for i, code in enumerate(rcountries):
                if code not in countries:
                    add(
                        E(
                            codes.COUNTRY,
                            f"route.routing_countries[{i}]",
                            f"{_show(code)} is not an ISO 3166-1 alpha-2 country code, e.g. DE",
                        )
                    )

    def _parties(self, m: Manifest, add, max_text: int) -> None:
        parties = m.parties
        if len(parties) > self.config.limits.max_parties:
            add(
                ValidationError(
                    codes.SCHEMA, "parties", f"{len(parties)} parties exceed the limit of {self.config.limits.max_parties}"
                )
            )
            return
        countries = self.countries
        placeholder = self._placeholder
        roles = set()
        for i, party in enumerate(parties):
            roles.add(party.role)
            name = party.name
            # Fast path: a name already judged a real name (memo holds False for it).
            flag = placeholder.get(name)
            if flag is None:
                flag = self._first_sight_name(name, max_text)
            if flag:
                self._party_name(i, party.role, name, add, max_text)
            address = party.address
            city = address.city
            if not city or city.isspace():
                add(
                    ValidationError(
                        codes.REQUIRED, f"parties[{i}].address.city", f"the {party.role} city is blank; send the city"
                    )
                )
            country = address.country
            if country not in countries:
                path = f"parties[{i}].address.country"
                if _blank(country):
                    add(
                        ValidationError(
                            codes.REQUIRED, path, f"the {party.role} country is blank; send its ISO alpha-2 code"
                        )
                    )
                else:
                    add(
                        ValidationError(
                            codes.COUNTRY, path, f"{_show(country)} is not an ISO 3166-1 alpha-2 country code, e.g. DE"
                        )
                    )
        for role in self.required_roles:
            if role not in roles:
                add(ValidationError(codes.REQUIRED, "parties", f"no {role} party; add a party with role {role}"))

    def _party_name(self, i: int, role: str, name: str, add, max_text: int) -> None:
        path = f"parties[{i}].name"
        if _blank(name):
            add(ValidationError(codes.REQUIRED, path, f"the {role} name is blank; send the party's legal name"))
        elif len(name) > max_text:
            add(ValidationError(codes.SCHEMA, path, f"the {role} name is {len(name)} characters (limit {max_text})"))
        elif self.is_placeholder(name):
            add(
                ValidationError(
                    codes.PARTY_NAME,
                    path,
                    f"the {role} name is a placeholder (like 'unknown', 'n/a', 'same as consignee', "
                    f"'to order'); send the party's legal name",
                )
            )

    def _goods(self, m: Manifest, add, max_text: int) -> None:
        goods = m.goods
        max_lines = self.config.limits.max_goods_lines
        if not goods:
            add(ValidationError(codes.REQUIRED, "goods", "the goods list is empty; send at least one goods line"))
        elif len(goods) > max_lines:
            add(
                ValidationError(
                    codes.SCHEMA,
                    "goods",
                    f"{len(goods)} goods lines exceed the limit of {max_lines} per transport document; "
                    f"split the filing",
                )
            )
        good_hs, countries, currencies, vague = self._good_hs, self.countries, self.currencies, self._vague
        weight_sum = 0.0
        package_sum = 0
        lines_ok = True
        for i, g in enumerate(goods):
            hs = g.hs_code
            if hs not in good_hs:
                self._hs_code(i, hs, add)
            description = g.description
            flag = vague.get(description)
            if flag is None:
                flag = self._first_sight_description(description, max_text)
            if flag:
                self._description(i, description, add, max_text)
            packages = g.packages
            if packages > 0:
                package_sum += packages
            else:
                lines_ok = False
                add(ValidationError(codes.QUANTITY, f"goods[{i}].packages", f"packages is {packages}; send a positive count"))
            weight = g.gross_weight_kg
            if weight > 0 and weight < _INF:
                weight_sum += weight
            else:
                lines_ok = False
                add(
                    ValidationError(
                        codes.QUANTITY,
                        f"goods[{i}].gross_weight_kg",
                        f"gross weight {weight} is not a positive finite number of kg; send the weight in kg",
                    )
                )
            value = g.value_amount
            if not (value >= 0 and value < _INF):
                add(
                    ValidationError(
                        codes.QUANTITY, f"goods[{i}].value_amount", f"value {value} is not a finite amount of 0 or more"
                    )
                )
            currency = g.value_currency
            if currency not in currencies:
                path = f"goods[{i}].value_currency"
                if _blank(currency):
                    add(ValidationError(codes.REQUIRED, path, "value_currency is blank; send the ISO 4217 code, e.g. EUR"))
                else:
                    add(
                        ValidationError(
                            codes.CURRENCY, path, f"{_show(currency)} is not a current ISO 4217 currency; send e.g. EUR or USD"
                        )
                    )
            origin = g.origin_country
            if origin not in countries:
                path = f"goods[{i}].origin_country"
                if _blank(origin):
                    add(ValidationError(codes.REQUIRED, path, "origin_country is blank; send the ISO alpha-2 code"))
                else:
                    add(
                        ValidationError(
                            codes.COUNTRY, path, f"{_show(origin)} is not an ISO 3166-1 alpha-2 country code, e.g. CN"
                        )
                    )
        self._totals(m, add, bool(goods) and lines_ok, weight_sum, package_sum)

    def _hs_code(self, i: int, hs: str, add) -> None:
        path = f"goods[{i}].hs_code"
        if _blank(hs):
            add(ValidationError(codes.REQUIRED, path, "hs_code is blank; send the 6 to 10 digit HS code"))
        elif not (6 <= len(hs) <= 10 and hs.isascii() and hs.isdigit()):
            add(
                ValidationError(
                    codes.HS_CODE, path, f"HS code {_show(hs)} is not 6 to 10 digits; send digits only, e.g. 851712"
                )
            )
        elif hs[:6] not in self.hs_subheadings:
            add(
                ValidationError(
                    codes.HS_CODE,
                    path,
                    f"{hs[:6]} is not an HS 2022 subheading; check the code in the nomenclature",
                )
            )
        else:
            if len(self._good_hs) >= _CACHE_LIMIT:
                self._good_hs.clear()
            self._good_hs.add(hs)

    def _description(self, i: int, description: str, add, max_text: int) -> None:
        path = f"goods[{i}].description"
        if _blank(description):
            add(ValidationError(codes.REQUIRED, path, "description is blank; describe the goods in plain language"))
        elif len(description) > max_text:
            add(ValidationError(codes.SCHEMA, path, f"description is {len(description)} characters (limit {max_text})"))
        elif self.is_vague(description):
            add(
                ValidationError(
                    codes.VAGUE_DESCRIPTION,
                    path,
                    f"description {_show(description)} is too vague to assess; say what the goods are "
                    f"(e.g. 'brake discs for passenger cars', not 'parts')",
                )
            )

    def _totals(self, m: Manifest, add, compare: bool, weight_sum: float, package_sum: int) -> None:
        q = self.config.quantities
        total_weight = m.total_gross_weight_kg
        if not (total_weight > 0 and total_weight < _INF):
            add(
                ValidationError(
                    codes.QUANTITY,
                    "total_gross_weight_kg",
                    f"total gross weight {total_weight} is not a positive finite number of kg",
                )
            )
        elif compare:
            allowed = max(q.weight_tolerance_kg, weight_sum * q.weight_tolerance_pct / 100.0)
            if abs(weight_sum - total_weight) > allowed:
                add(
                    ValidationError(
                        codes.QUANTITY,
                        "total_gross_weight_kg",
                        f"declared total {total_weight:g} kg differs from the goods lines' sum "
                        f"{weight_sum:g} kg by more than {allowed:g} kg (tolerance: the larger of "
                        f"{q.weight_tolerance_kg:g} kg and {q.weight_tolerance_pct:g} % of the lines); correct the total or the lines",
                    )
                )
        total_packages = m.total_packages
        if total_packages <= 0:
            add(ValidationError(codes.QUANTITY, "total_packages", f"total packages {total_packages} is not a positive count"))
        elif compare and abs(package_sum - total_packages) > q.packages_tolerance:
            add(
                ValidationError(
                    codes.QUANTITY,
                    "total_packages",
                    f"declared total {total_packages} packages differs from the goods lines' sum "
                    f"{package_sum}; the total must equal the sum of the lines",
                )
            )

    def _containers(self, m: Manifest, add) -> None:
        containers = m.containers
        if not containers:
            return
        limit = self.config.limits.max_containers
        if len(containers) > limit:
            add(ValidationError(codes.SCHEMA, "containers", f"{len(containers)} containers exceed the limit of {limit}"))
            return
        for i, c in enumerate(containers):
            number = c.number
            if not is_valid_container(number):
                self._container_error(i, number, add)

    @staticmethod
    def _container_error(i: int, number: str, add) -> None:
        path = f"containers[{i}].number"
        if _blank(number):
            add(ValidationError(codes.REQUIRED, path, "container number is blank; send the ISO 6346 number, e.g. CSQU3054383"))
        elif _CONTAINER_SHAPE.match(number):
            add(
                ValidationError(
                    codes.CONTAINER_CHECK_DIGIT,
                    path,
                    f"container {_show(number)} fails its ISO 6346 check digit (expected "
                    f"{iso6346_check_digit(number[:10])}); check the number on the container",
                )
            )
        else:
            add(
                ValidationError(
                    codes.CONTAINER_CHECK_DIGIT,
                    path,
                    f"container {_show(number)} is not ISO 6346: 3 letters owner code, category "
                    f"U/J/Z/R, 6 digits serial, 1 check digit, no spaces, e.g. CSQU3054383",
                )
            )


_validators: dict[tuple[int, int], ManifestValidator] = {}


def validator_for(ref: ReferenceData, config: ValidationConfig) -> ManifestValidator:
    """The compiled validator for this reference data and configuration (built once, reused)."""
    key = (id(ref), id(config))
    v = _validators.get(key)
    if v is None or v.ref is not ref or v.config is not config:
        if len(_validators) > 16:  # reloaded configurations: drop the old ones
            _validators.clear()
        v = _validators[key] = ManifestValidator(ref, config)
    return v


def validate(
    manifest: Manifest, ref: ReferenceData, config: ValidationConfig, now: datetime
) -> list[ValidationError]:
    """Every error of one manifest (``[]`` when it is valid); never raises.

    ``now`` is the screening clock (filing in the future, absurd dates); naive
    timestamps are read as UTC.
    """
    return validator_for(ref, config).validate(manifest, now)


def validate_batch(
    manifests: Sequence[Manifest], ref: ReferenceData, config: ValidationConfig, now: datetime
) -> list[list[ValidationError]]:
    """The errors of each manifest of a batch, in order (one list per manifest)."""
    v = validator_for(ref, config)
    check = v.validate
    return [check(m, now) for m in manifests]
