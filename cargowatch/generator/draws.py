"""Fast seeded draws: ``random.Random.choice`` / ``randrange`` cost ~1 µs each through
rejection sampling; the generator makes ~25 draws per manifest, so it uses these
multiply-and-truncate versions (uniform enough for synthetic traffic, same determinism).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def choice(rng: random.Random, items: Sequence[T]) -> T:
    """One item of a non-empty sequence."""
    return items[int(rng.random() * len(items))]


def randrange(rng: random.Random, start: int, stop: int) -> int:
    """An integer in ``[start, stop)``."""
    return start + int(rng.random() * (stop - start))
