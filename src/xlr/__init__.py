"""xlr: reproduction kit for robust zero-shot cross-lingual transfer (Huang et al., EMNLP 2021)."""

__version__ = "0.1.0"
