"""Typed errors, so callers can tell bad input from bugs.

Every error a user can cause is one of these; ``docs/errors.md`` lists each with its cause and cure.
The CLI maps :class:`ConfigError` (bad arguments, configs, states) to exit status 2 and every other
:class:`Molmo2DataError` to exit status 1.
"""

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
    """The local table of a dataset does not exist or cannot be read (not downloaded, truncated)."""


class SchemaError(Molmo2DataError, ValueError):
    """A local table lacks a column the reader needs, or has it with the wrong type or a null value."""


class AnnotationError(SchemaError):
    """One annotation holds an invalid value (NaN / inf, out of its scale or clip, a negative count, empty
    or missing text). Readers drop such an annotation and count it in ``Example.metadata.dropped``."""


class EmptyExampleError(SchemaError):
    """Every annotation of a row was invalid: the example is skipped (and counted) as a whole."""


class MediaError(Molmo2DataError):
    """A media file is missing, truncated, not decodable, too large or not a regular file."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MediaMissingError(MediaError, FileNotFoundError):
    pass


class MediaDecodeError(MediaError, ValueError):
    pass


class ConfigError(Molmo2DataError, ValueError):
    """A bad argument, custom-dataset or mixture config, or loader state (CLI exit status 2)."""


class StateMismatchError(ConfigError):
    """A loader state saved under another stage, seed, mixture, sequence length, packing, tokenizer or
    rank layout than the loader it is loaded into."""
