"""Long fuzz run of the intake and validation: no input may make them raise.

Coverage-guided with atheris (libFuzzer) when it is installed, else a hypothesis-driven
loop over the same hostile-input strategies as the property tests. Each input is tried
as a Kafka value (raw, and behind a valid Confluent frame of schema id 1) and as a JSON
line; whatever decodes is validated. A crash is an exception escaping, or an error from
one of the catch-all guards (which exist only for bugs).

    .venv/bin/python tests/fuzz/fuzz_intake.py --count 500000 --seconds 240
    .venv/bin/python tests/fuzz/fuzz_intake.py --engine hypothesis --count 20000

Prints the number of inputs tried and the crashes found (a crash stops the run with the
offending input saved as ``crash-*`` in the working directory, libFuzzer style).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parent / "unit" / "validation"))

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
FRAME = b"\x00\x00\x00\x00\x01"
_GUARDS = ("could not be validated (", "could not be read (")


class FuzzCrash(AssertionError):
    """The intake or validation misbehaved on one input."""


def _make_target():
    from cargowatch.settings import Settings
    from enrichers.refdata import ReferenceData
    from schemas.codec import Codec
    from schemas.intake import read_json_line, read_kafka_value
    from schemas.model import Manifest, Rejection, Source
    from schemas.validation import default_config, validate

    ref = ReferenceData.load(Settings().refdata)
    config = default_config()
    codec = Codec()
    src = Source(kind="kafka", topic="fuzz", partition=0, offset=0)

    def check(out: object) -> None:
        if isinstance(out, Manifest):
            errors = validate(out, ref, config, NOW)
        elif isinstance(out, Rejection):
            errors = out.errors
        else:
            raise FuzzCrash(f"returned {type(out).__name__}, not Manifest or Rejection")
        for e in errors:
            if any(g in e.message for g in _GUARDS):
                raise FuzzCrash(f"catch-all guard reached: {e}")

    def one_input(data: bytes) -> None:
        check(read_kafka_value(data, codec, src, NOW))
        check(read_kafka_value(FRAME + data, codec, src, NOW))
        check(read_json_line(data, src, NOW))

    return one_input


def _seed_corpus(directory: Path) -> None:
    import msgspec
    from manifest_builders import make_air_manifest, make_manifest

    from schemas.codec import Codec

    codec = Codec()
    for i, m in enumerate((make_manifest(), make_air_manifest())):
        avro = codec.encode("Manifest", m)
        (directory / f"avro-{i}").write_bytes(avro)
        (directory / f"avro-body-{i}").write_bytes(avro[5:])
        (directory / f"json-{i}").write_bytes(msgspec.json.encode(m))


def run_atheris(count: int, seconds: int, max_len: int) -> int:
    import atheris

    with atheris.instrument_imports(include=["schemas", "enrichers.refdata"]):
        one_input = _make_target()
    seen = [0]

    def target(data: bytes) -> None:
        seen[0] += 1
        one_input(data)

    corpus = Path(tempfile.mkdtemp(prefix="cargowatch-fuzz-"))
    _seed_corpus(corpus)
    args = [
        sys.argv[0],
        f"-runs={count}",
        f"-max_total_time={seconds}",
        f"-max_len={max_len}",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        str(corpus),
    ]
    print(f"atheris: up to {count} inputs or {seconds} s, corpus {corpus}", flush=True)
    sys.argv = args
    atheris.Setup(args, target)
    atheris.Fuzz()  # exits the process; libFuzzer prints "Done N runs"
    return 0


def run_hypothesis(count: int, seconds: int) -> int:
    from hostile_strategies import json_lines, kafka_values
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    one_input = _make_target()
    tried = [0]

    @settings(max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(kafka_values, json_lines.map(lambda x: x.encode("utf-8", "surrogatepass") if isinstance(x, str) else x)))
    def target(data: bytes) -> None:
        tried[0] += 1
        if time.monotonic() - start > seconds:
            return
        one_input(data)

    start = time.monotonic()
    try:
        target()
    except Exception as exc:  # noqa: BLE001 - report the crash with the count so far
        print(f"hypothesis: CRASH after {tried[0]} inputs: {exc!r}")
        return 1
    print(f"hypothesis: {tried[0]} inputs, 0 crashes, {time.monotonic() - start:.0f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="inputs to try (upper bound)")
    parser.add_argument("--seconds", type=int, default=240, help="wall-clock limit")
    parser.add_argument("--max-len", type=int, default=8192, help="largest input (atheris)")
    parser.add_argument("--engine", choices=["atheris", "hypothesis"], default=None)
    args, _ = parser.parse_known_args()
    engine = args.engine
    if engine is None:
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    if engine == "atheris":
        return run_atheris(args.count, args.seconds, args.max_len)
    return run_hypothesis(args.count, args.seconds)


if __name__ == "__main__":
    sys.exit(main())
