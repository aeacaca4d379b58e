"""relapse-risk: research estimates of relapse/progression risk after CD19 CAR-T in LBCL.

Not a medical device. This package holds the command-line front door; the work lives in
features/, synthetic/, training/, model_registry/, batch/ and serving/.
"""

from features.schema import RESEARCH_USE_NOTICE  # noqa: F401 - re-exported for callers

__version__ = "0.1.0"
