"""Typed errors, so callers can tell bad input from bugs."""

from __future__ import annotations


class Molmo2DataError(Exception):
    """Base class of every error this package raises on purpose."""


class UnknownDatasetError(Molmo2DataError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownSplitError(Molmo2DataError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class DatasetNotAvailableError(Molmo2DataError, FileNotFoundError):
    """The local table of a dataset does not exist (not downloaded, no sample data)."""


class SchemaError(Molmo2DataError, ValueError):
    """A local table lacks a column the reader needs, or has it with the wrong type."""


class MediaError(Molmo2DataError):
    """A media file is missing, truncated or not decodable."""


class MediaMissingError(MediaError, FileNotFoundError):
    pass


class MediaDecodeError(MediaError, ValueError):
    pass


class ConfigError(Molmo2DataError, ValueError):
    """A custom-dataset or mixture config is malformed."""
