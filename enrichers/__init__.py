"""Stage 2: what we know about a manifest's world. Reference data, watchlists, traders."""
