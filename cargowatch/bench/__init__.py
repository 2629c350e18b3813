"""``cargowatch bench``: the performance benchmark (design principle 8, issue 7).

One run, one broker, one machine, three ways to move the same Avro-framed manifests from
``manifests.raw`` to the result topics:

1. **ceiling** (:mod:`cargowatch.bench.ceiling`): raw aiokafka consume + produce of the
   same bytes, no processing: what the broker and client allow at all;
2. **baseline** (:mod:`cargowatch.bench.baseline_app`): a straightforward Faust agent
   doing validate, enrich and score one event at a time (``async for`` + ``await send``);
3. **pipeline**: the real worker (:mod:`cargowatch.bench.worker`, the ``cargowatch
   worker`` app with the benchmark watchlist loaded) as a subprocess, its rate read
   from committed offsets.

Then end-to-end latency at a fixed offered load (half of 3's maximum), and the
single-core rates of the cores (:mod:`cargowatch.bench.cores`). :mod:`~cargowatch.bench.runner`
orchestrates; :mod:`~cargowatch.bench.report` writes the table, JSON, plot and
``BENCHMARKS.md``.
"""
