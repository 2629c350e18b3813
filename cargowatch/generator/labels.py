"""Ground truth for each generated record (one label per record, in the same order).

See the package docstring (:mod:`cargowatch.generator`) for the JSON form.
"""

from __future__ import annotations

import msgspec


class WatchlistLabel(msgspec.Struct):
    """Which listed entry a planted party imitates, and how it was spelled."""

    list_id: str
    entry_id: str
    name: str  # the listed (primary) name
    variant: str  # the name as written on the manifest
    variant_kind: str  # exact, transliteration, word_order, legal_form, typo, ...
    party_role: str


class Label(msgspec.Struct):
    """What was planted in one record; ``risks`` are rule ids expected to fire."""

    record: int
    manifest_id: str
    version: int
    mode: str
    risks: list[str]
    invalid_code: str | None = None
    invalid_path: str | None = None
    watchlist_entry: WatchlistLabel | None = None
    details: dict[str, str] = msgspec.field(default_factory=dict)
    consignee_id: str | None = None
    consignor_id: str | None = None
    consignee_first_seen: bool = False
    consignor_first_seen: bool = False
    amends_version: int | None = None
    replay: bool = False

    @property
    def valid(self) -> bool:
        return self.invalid_code is None


_encoder = msgspec.json.Encoder()


def encode_label(label: Label) -> bytes:
    """One label as a JSON line (without the newline)."""
    return _encoder.encode(label)


def decode_labels(data: bytes) -> list[Label]:
    """Labels from a JSON-lines file's bytes."""
    decoder = msgspec.json.Decoder(Label)
    return [decoder.decode(line) for line in data.splitlines() if line.strip()]
