"""Record handlers that keep a worker's tables current: ``ref.traders`` into the
TraderRegister, ``alerts.decisions`` into the trader history. (``ref.watchlist`` has its
own feed, enrichers.watchlist.feed, next to the store it fills.)"""

from __future__ import annotations

import logging

import msgspec

from cargowatch.kafka import RecordHandler
from enrichers.traders import TraderHistory, TraderRegister
from schemas.codec import Codec
from schemas.model import Decision, TraderProfile

log = logging.getLogger("cargowatch.reference")


def trader_handler(register: TraderRegister, codec: Codec) -> RecordHandler:
    """Upsert a profile per record; a tombstone removes the trader."""

    def apply(key: bytes | None, value: bytes | None) -> None:
        if value is None:
            if key:
                register.remove(key.decode())
            return
        register.upsert(msgspec.convert(codec.decode("TraderProfile", value), TraderProfile))

    return apply


def decision_handler(history: TraderHistory, codec: Codec) -> RecordHandler:
    """Officer decisions into the trader history (PRIOR_FINDINGS); counted once per alert."""

    def apply(key: bytes | None, value: bytes | None) -> None:
        if value is not None:
            history.record_decision(msgspec.convert(codec.decode("Decision", value), Decision))

    return apply
