"""The generator's planted invalid records: each planted code is the code reported, at the
planted path, none missed; and its clean records pass validation untouched."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import msgspec
import pytest

from enrichers.refdata import ReferenceData
from schemas.intake import read_json_line
from schemas.model import Manifest, Rejection, Source
from schemas.validation import ValidationConfig, validate_batch
from schemas.validation.codes import ALL_CODES

generator = pytest.importorskip("cargowatch.generator")


@pytest.fixture(scope="module")
def generated(ref: ReferenceData):
    config = generator.GeneratorConfig(
        rates=generator.RiskRates().replace(invalid=0.6),
        # The small OFAC excerpt keeps set-up fast; the list does not matter for validation.
        watchlist=str(ref.directory / "sanctions" / "ofac_sample"),
        watchlist_format="ofac",
    )
    return list(generator.generate(600, seed=20261128, ref=ref, config=config)), config


def test_planted_codes_are_reported_and_clean_records_pass(generated, ref: ReferenceData, config: ValidationConfig) -> None:
    records, gen_config = generated
    decoded: list[Manifest | Rejection] = [
        read_json_line(msgspec.json.encode(m), Source(kind="file", file="gen.jsonl", line=i), gen_config.start)
        for i, (m, _) in enumerate(records)
    ]
    # The screening clock: just after the last plausible filing of the run.
    horizon = gen_config.start + timedelta(days=365)
    now = max(d.filed_at for d in decoded if isinstance(d, Manifest) and d.filed_at < horizon) + timedelta(minutes=1)
    manifests = [d for d in decoded if isinstance(d, Manifest)]
    errors_of = dict(zip(map(id, manifests), validate_batch(manifests, ref, config, now), strict=True))

    planted: Counter[str] = Counter()
    wrong = []
    for (_, label), d in zip(records, decoded, strict=True):
        errors = d.errors if isinstance(d, Rejection) else errors_of[id(d)]
        got = {(e.code, e.path) for e in errors}
        if label.invalid_code is None:
            if got:
                wrong.append((label.record, "clean record rejected", sorted(got)))
            continue
        planted[label.invalid_code] += 1
        if {c for c, _ in got} != {label.invalid_code} or (label.invalid_code, label.invalid_path) not in got:
            wrong.append((label.record, label.invalid_code, label.invalid_path, sorted(got)))
    assert not wrong, wrong[:10]
    assert set(planted) == set(ALL_CODES), f"codes never planted in this run: {set(ALL_CODES) - set(planted)}"
