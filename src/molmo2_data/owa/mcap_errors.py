"""Readable reasons for damaged ``.mcap`` files.

The ``mcap`` reader reports damage with its internals (``EndOfFile:``, ``error: unpack requires a buffer
of 8 bytes``, ``ZstdError``...). Users need to know *what is wrong with the file*, so every exception
raised while reading is turned into one short reason code plus a sentence (both go to the manifest).
"""

from __future__ import annotations

import struct

MCAP_MAGIC = b"\x89MCAP0\r\n"

# reason code -> sentence; the codes are stable (manifest ``reason`` field, docs/owa.md)
REASONS = {
    "empty_file": "empty file (0 bytes, not an MCAP file)",
    "not_mcap": "not an MCAP file (bad magic)",
    "truncated": "truncated MCAP file (ends inside a record)",
    "bad_end_magic": "truncated or damaged MCAP file (bad magic at the end)",
    "corrupt_chunk": "corrupt MCAP chunk (cannot decompress)",
    "bad_record_length": "corrupt MCAP file (impossible record length)",
    "dangling_reference": "corrupt MCAP file (a record refers to a missing schema or channel)",
    "bad_text": "corrupt MCAP file (invalid UTF-8 in a record)",
    "unsupported_compression": "MCAP file uses an unsupported compression",
    "corrupt": "corrupt MCAP file",
}


def describe(exc: BaseException, head: bytes = b"") -> tuple[str, str]:
    """``(reason code, readable sentence)`` for an exception raised while reading an MCAP file whose
    first bytes are ``head`` (used to tell "not MCAP at all" from "damaged at the end")."""
    from mcap import exceptions as mx

    name = type(exc).__name__
    if isinstance(exc, mx.InvalidMagic):
        code = "bad_end_magic" if head.startswith(MCAP_MAGIC) else "not_mcap"
    elif isinstance(exc, mx.EndOfFile | struct.error | EOFError):
        if head == b"":
            code = "empty_file"
        elif not (head.startswith(MCAP_MAGIC) or MCAP_MAGIC.startswith(head)):
            code = "not_mcap"  # a few bytes that are not the start of the magic
        else:
            code = "truncated"
    elif isinstance(exc, mx.RecordLengthLimitExceeded | OverflowError | MemoryError):
        code = "bad_record_length"
    elif isinstance(exc, mx.UnsupportedCompressionError):
        code = "unsupported_compression"
    elif isinstance(exc, UnicodeDecodeError):
        code = "bad_text"
    elif "decompress" in str(exc).lower() or name in ("ZstdError", "LZ4FrameError"):
        code = "corrupt_chunk"
    elif isinstance(exc, mx.McapError) and "no " in str(exc) and "record found" in str(exc):
        code = "dangling_reference"
    else:
        return "corrupt", f"{REASONS['corrupt']} ({name}: {str(exc)[:120]})"
    return code, REASONS[code]
