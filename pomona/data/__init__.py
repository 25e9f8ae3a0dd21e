"""Data entering the platform: the synthetic marketplace and the public-dataset importers.

Both write the canonical tables of :mod:`pomona.schemas` through :class:`DatasetWriter`.
"""

from pomona.data.writer import DatasetWriter, load_table, read_manifest

__all__ = ["DatasetWriter", "load_table", "read_manifest"]
