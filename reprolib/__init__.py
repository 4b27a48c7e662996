"""reprolib: reproduce four papers on shrinking training data (DDPP, IADD, GDD-SKD, DP)."""

__version__ = "0.1.0"
