"""Business validation of manifests: every rejection code of contract §2.

The worker and ``cargowatch screen`` call :func:`validate_batch`; configuration comes
from :meth:`ValidationConfig.load` (``cargowatch/defaults/stopwords.yaml``).
"""

from schemas.validation.config import ValidationConfig, ValidationConfigError, default_config
from schemas.validation.rules import ManifestValidator, validate, validate_batch, validator_for

__all__ = [
    "ManifestValidator",
    "ValidationConfig",
    "ValidationConfigError",
    "default_config",
    "validate",
    "validate_batch",
    "validator_for",
]
