"""cargowatch: streaming screening of advance cargo manifests.

The pipeline's stages are the top-level packages ``schemas`` (decode, validate),
``enrichers`` (reference data, watchlists, traders), ``streams`` (scoring, the worker)
and ``sinks`` (archive, alerts, dashboard). This package holds what is not a stage:
settings, topic names, the command line, the generator, the demo and the benchmark.
"""

__version__ = "0.1.0"
