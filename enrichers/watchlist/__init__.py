"""Watchlist screening: list loaders, name normalisation, the candidate index and the matcher.

The pure core (``loaders``, ``normalize``, ``index``, ``matcher``, ``store``) knows nothing
about Kafka; ``feed`` and ``publish`` are the Kafka wiring.

>>> from enrichers.watchlist.loaders import load_watchlist  # doctest: +SKIP
>>> version = load_watchlist("sanctions/un/UN_consolidated.xml")  # doctest: +SKIP
"""
