"""Business validation of manifests: every rejection code of contract §2."""
