"""One HTTP GET into a body: status classification, content decoding, size and length checks.

Why the content decoding is done here and not by aiohttp: ``Content-Length`` counts the bytes on the
wire, so a complete gzip response has fewer bytes than its decoded body. aiohttp's automatic decoding
hides the wire count, and comparing the decoded size with the header made every compressed response
a "truncated body". So the session asks for ``identity`` (images are compressed already), reads raw
bytes, counts them against ``Content-Length`` and decodes gzip / deflate itself — in bounded steps,
so a small compressed body cannot expand past the size limit (a "zip bomb") in memory.
"""

from __future__ import annotations

import email.utils
import hashlib
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import aiohttp

TRANSIENT_HTTP = frozenset({408, 425, 429})  # and every 5xx
DECODE_STEP = 1 << 20  # largest piece of decoded output produced at once


class TransientFailure(Exception):
    """Worth retrying (later in this run, or on the next run): 408/425/429/5xx, timeouts, drops."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """Not retried unless ``retry_failed``: 404/410 and other 4xx, bad URL, too large, ..."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_status(status: int, retry_after: str | None) -> Exception:
    if status in TRANSIENT_HTTP or status >= 500:
        return TransientFailure(f"http {status}", parse_retry_after(retry_after))
    return PermanentFailure(f"http {status}")


class Decoder:
    """Undoes a ``Content-Encoding`` (identity, gzip, deflate) chunk by chunk."""

    def __init__(self, encoding: str):
        enc = encoding.strip().lower()
        self.identity = enc in ("", "identity")
        self._z: zlib._Decompress | None = None
        self._deflate = enc == "deflate"
        if enc in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif not self.identity and not self._deflate:
            raise PermanentFailure(f"unsupported content-encoding {enc!r}")

    def feed(self, raw: bytes) -> Iterator[bytes]:
        """Decoded pieces of ``raw`` (each at most DECODE_STEP bytes)."""
        if self.identity:
            yield raw
            return
        if self._z is None:  # deflate: zlib-wrapped as the RFC says, or raw as some servers send
            zlib_header = len(raw) >= 2 and raw[0] & 0x0F == 8 and (raw[0] << 8 | raw[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        try:
            out = self._z.decompress(raw, DECODE_STEP)
            while True:
                if out:
                    yield out
                if not self._z.unconsumed_tail:
                    break
                out = self._z.decompress(self._z.unconsumed_tail, DECODE_STEP)
        except zlib.error as e:
            raise PermanentFailure("corrupt content-encoding") from e

    def finish(self) -> None:
        """Raise unless the compressed stream ended properly."""
        if self._z is not None and not self._z.eof:
            raise TransientFailure("truncated body")


class Body:
    """A response body: kept in memory up to ``spill`` bytes (typical images: written later in one
    call by a worker thread), beyond that streamed to the temp file as it arrives."""

    def __init__(self, tmp: Path, spill: int):
        self.tmp = tmp
        self.spill = spill
        self.chunks: list[bytes] = []
        self.n = 0
        self.head = b""  # first bytes, to tell an HTML error page from an image
        self._f: BinaryIO | None = None
        self._hash = hashlib.sha256()  # only fed while spilling (large bodies)

    def add(self, chunk: bytes) -> None:
        self.n += len(chunk)
        if len(self.head) < 1024:
            self.head += chunk[:1024]
        if self._f is None and self.n > self.spill:
            self._f = open(self.tmp, "wb")  # noqa: SIM115 - closed in close()
            for c in self.chunks:
                self._hash.update(c)
            self._f.writelines(self.chunks)
            self.chunks = []
        if self._f is not None:
            self._hash.update(chunk)
            self._f.write(chunk)
        else:
            self.chunks.append(chunk)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def flush_to_disk(self) -> str:
        """Make the temp file hold the whole body (closed); return its sha256 hex digest."""
        if self.chunks or not self.tmp.exists():
            for c in self.chunks:
                self._hash.update(c)
            with open(self.tmp, "wb") as f:
                f.writelines(self.chunks)
            self.chunks = []
        return self._hash.hexdigest()


async def get_into(session: aiohttp.ClientSession, url: str, body: Body, limit: int, max_redirects: int) -> str:
    """GET ``url`` into ``body`` (decoded); returns the Content-Type. Raises TransientFailure /
    PermanentFailure. ``max_redirects`` redirects are followed, one more is a failure."""
    try:
        # aiohttp raises once the number of redirects reaches its limit, i.e. it follows limit - 1
        async with session.get(url, allow_redirects=True, max_redirects=max_redirects + 1) as resp:
            if resp.status != 200:
                raise classify_status(resp.status, resp.headers.get("Retry-After"))
            length = resp.content_length  # bytes on the wire, before content decoding
            decoder = Decoder(resp.headers.get("Content-Encoding", ""))
            if decoder.identity and length is not None and length > limit:
                raise PermanentFailure("too large")
            raw = 0
            async for chunk in resp.content.iter_any():
                raw += len(chunk)
                for piece in decoder.feed(chunk):
                    if body.n + len(piece) > limit:
                        raise PermanentFailure("too large")
                    body.add(piece)
            if length is not None and raw != length:
                raise TransientFailure("truncated body")
            decoder.finish()
            return resp.headers.get("Content-Type", "")
    except (TransientFailure, PermanentFailure):
        raise
    except aiohttp.TooManyRedirects as e:
        raise PermanentFailure("too many redirects") from e
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as e:
        raise PermanentFailure("invalid url") from e
    except aiohttp.ClientConnectorDNSError as e:
        raise PermanentFailure("host not found") from e
    except (TimeoutError, aiohttp.ServerTimeoutError) as e:
        raise TransientFailure("timeout") from e
    except aiohttp.ClientPayloadError as e:
        raise TransientFailure("truncated body") from e
    except (aiohttp.ClientConnectionError, ConnectionError) as e:
        raise TransientFailure("connection error") from e
    except aiohttp.ClientError as e:
        raise TransientFailure(f"client error ({type(e).__name__})") from e
