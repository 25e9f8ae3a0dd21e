"""Pomona: one platform for recommendations, ranking, fraud and forecasting.

The core package holds what every use case shares: the use-case registry, the
workspace (``$POMONA_HOME``), typed configuration, canonical schemas, the data
generator and importers, and the ``pomona`` command line.
"""

__version__ = "0.1.0"
