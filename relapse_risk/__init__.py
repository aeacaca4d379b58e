"""relapse-risk: research estimates of relapse/progression risk after CD19 CAR-T in LBCL.

Not a medical device. This package holds the command-line front door; the work lives in
features/, synthetic/, training/, model_registry/ and serving/.
"""

RESEARCH_USE_NOTICE = (
    "For research use only. Not a medical device; not for clinical decisions. "
    "Models are trained on synthetic cohorts calibrated to published figures."
)
__version__ = "0.1.0"
