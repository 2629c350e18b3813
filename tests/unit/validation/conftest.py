"""Fixtures for validation tests; the manifest builders live in ``manifest_builders``."""

from __future__ import annotations

import pytest
from manifest_builders import NOW, REFDATA_DIR, codes_and_paths

from enrichers.refdata import ReferenceData
from schemas.model import Manifest, Source
from schemas.validation import ManifestValidator, ValidationConfig, default_config


@pytest.fixture(scope="session")
def ref() -> ReferenceData:
    return ReferenceData.load(REFDATA_DIR)


@pytest.fixture(scope="session")
def config() -> ValidationConfig:
    return default_config()


@pytest.fixture(scope="session")
def validator(ref: ReferenceData, config: ValidationConfig) -> ManifestValidator:
    return ManifestValidator(ref, config)


@pytest.fixture
def check(validator: ManifestValidator):
    """``check(manifest)`` -> set of (code, path) of its errors at NOW."""

    def run(manifest: Manifest) -> set[tuple[str, str]]:
        return codes_and_paths(validator.validate(manifest, NOW))

    return run


@pytest.fixture
def kafka_source() -> Source:
    return Source(kind="kafka", topic="manifests.raw", partition=3, offset=1234)


@pytest.fixture
def file_source() -> Source:
    return Source(kind="file", file="manifests.jsonl", line=7)
