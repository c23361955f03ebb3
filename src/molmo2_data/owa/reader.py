"""Reading OWAMcap recordings with the generic ``mcap`` package (every format generation).

An OWAMcap recording is an ``.mcap`` event log (profile ``owa``, jsonschema schemas, json messages)
plus, normally, an ``.mkv`` screen video. Schema names changed across writer versions
(``owa.env.desktop.msg.KeyboardEvent`` in 0.3.x, ``desktop/KeyboardEvent`` from 0.4 on, screen
messages ``owa.env.gst.msg.ScreenEmitted`` then ``desktop/ScreenCaptured``), so every message is
classified once into a canonical *kind* and every screen payload is normalised into a
:class:`ScreenRef` whose video path is resolved against the ``.mcap``'s folder (never the CWD).

Bad input never crashes a run: unknown schemas, non-JSON payloads and out-of-order timestamps are
counted in :attr:`Recording.skipped` / :attr:`Recording.notes`; a truncated or corrupt file keeps the
messages read before the damage and records why in :attr:`Recording.error`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molmo2_data.errors import MediaMissingError, Molmo2DataError
from molmo2_data.owa.mcap_errors import MCAP_MAGIC, describe

KINDS = ("KeyboardEvent", "KeyboardState", "MouseEvent", "MouseState", "RawMouseEvent", "WindowInfo",
         "ScreenCaptured")
_ALIASES = {"ScreenEmitted": "ScreenCaptured"}
CANONICAL_TYPE = {k: f"desktop/{k}" for k in KINDS}


class RecordingError(Molmo2DataError, ValueError):
    """An ``.mcap`` file cannot be read at all (not an MCAP file, empty, unreadable header).
    ``reason`` is a stable code from :data:`molmo2_data.owa.mcap_errors.REASONS` (or ``unreadable_file``)."""

    def __init__(self, message: str, reason: str = "corrupt"):
        super().__init__(message)
        self.reason = reason


def message_kind(message_type: str) -> str | None:
    """The canonical kind of a schema name of any writer generation, or None when unknown.

    Accepts ``desktop/X`` (0.4+), ``owa.env.desktop.msg.X`` / ``owa.env.gst.msg.ScreenEmitted``
    (0.3.x) and ``owa_env_desktop.X`` (<= 0.2)."""
    last = message_type.replace("/", ".").rsplit(".", 1)[-1]
    last = _ALIASES.get(last, last)
    return last if last in KINDS else None


@dataclass(frozen=True)
class Event:
    """One message: topic, log time (ns), schema name as written, raw JSON payload."""

    topic: str
    timestamp_ns: int
    message_type: str
    msg: bytes
    droppable: bool = True  # rate limiting may drop it (movement, snapshots), see events.is_droppable


@dataclass(frozen=True)
class ScreenRef:
    """A screen message normalised across generations: which frame of which video.

    ``uri`` is an absolute path for local videos (resolved against the ``.mcap`` folder) or the URI as
    written (``http(s)://``, ``data:``); ``pts_ns`` is None for still images."""

    uri: str
    pts_ns: int | None
    utc_ns: int | None
    width: int | None
    height: int | None


@dataclass
class Recording:
    """Everything read from one ``.mcap``: events in log-time order plus what was skipped and why."""

    path: str
    library: str = ""
    profile: str = ""
    events: list[Event] = field(default_factory=list)
    total_messages: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    error: str | None = None  # readable sentence (mcap_errors.REASONS), None when fully read
    error_reason: str | None = None  # its stable code


def resolve_media_path(uri: str, mcap_path: str | os.PathLike) -> str:
    """Resolve a recorded video/image path against the folder of the ``.mcap`` (as the recorder
    wrote it); absolute paths and URIs pass through (``file://`` is turned into a path)."""
    if uri.startswith("file://"):
        return uri[len("file://"):]
    if "://" in uri or uri.startswith("data:"):
        return uri
    p = Path(uri)
    if p.is_absolute():
        return str(p)
    return str(Path(mcap_path).resolve().parent / p)


def parse_screen(payload: bytes | str | dict[str, Any], mcap_path: str | os.PathLike) -> ScreenRef:
    """Normalise a ScreenEmitted (0.3: ``path``/``pts``), ScreenCaptured 0.4 (``path``/``pts``,
    ``original_shape``) or 0.5 (``media_ref`` as ``{uri, pts_ns}`` or the 0.5.0 tagged union) payload.

    Raises ValueError when the payload names no media."""
    d = json.loads(payload) if isinstance(payload, bytes | str) else payload
    uri: str | None = None
    pts: int | None = None
    ref = d.get("media_ref")
    if isinstance(ref, dict):
        kind = ref.get("type")
        if kind == "embedded":
            uri = ref.get("data") or ref.get("uri")
            if uri and not str(uri).startswith("data:"):
                uri = f"data:image/{ref.get('format', 'png')};base64,{uri}"
        else:
            uri = ref.get("uri", ref.get("path"))
            pts = ref.get("pts_ns")
    elif "path" in d:
        uri, pts = d.get("path"), d.get("pts")
    if not isinstance(uri, str) or not uri:
        raise ValueError("screen message names no media (no media_ref.uri / path)")
    shape = d.get("shape") or d.get("source_shape") or d.get("original_shape")
    width, height = (int(shape[0]), int(shape[1])) if isinstance(shape, list | tuple) and len(shape) == 2 \
        else (None, None)
    return ScreenRef(uri=resolve_media_path(uri, mcap_path), pts_ns=None if pts is None else int(pts),
                     utc_ns=d.get("utc_ns"), width=width, height=height)


def read_recording(path: str | os.PathLike, topics: list[str] | None = None) -> Recording:
    """Read every message of one ``.mcap`` (inclusive of the last one), in log-time order.

    Raises :class:`RecordingError` when the file is not an MCAP file at all; later damage is kept
    in ``Recording.error`` with the messages read so far."""
    from mcap.reader import make_reader

    path = os.fspath(path)
    if not os.path.exists(path):
        raise MediaMissingError(f"recording not found: {path}", path=path)
    rec = Recording(path=path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, after the fallback re-read
    except OSError as e:
        raise RecordingError(f"{path}: cannot open ({e.strerror or e})", reason="unreadable_file") from e
    with f:
        head = f.read(len(MCAP_MAGIC))
        f.seek(0)
        try:
            reader = make_reader(f)
            header = reader.get_header()
        except Exception as e:  # noqa: BLE001 - any parse failure of the header is "not readable"
            code, text = describe(e, head)
            raise RecordingError(f"{path}: {text}", reason=code) from e
        rec.library, rec.profile = header.library, header.profile
        if header.profile not in ("owa", ""):
            rec.notes[f"profile:{header.profile}"] += 1
        try:
            # file order + one stable sort below is faster than the reader's log-time merge
            _read_all(rec, reader.iter_messages(topics=topics, log_time_order=False))
        except Exception as e:  # noqa: BLE001 - no usable summary/index (cut-off file): stream the records
            if rec.total_messages:
                rec.error_reason, rec.error = describe(e, head)
            else:
                from mcap.reader import NonSeekingReader

                f.seek(0)
                rec.notes["read_without_index"] += 1
                try:
                    _read_all(rec, NonSeekingReader(f).iter_messages(topics=topics, log_time_order=False))
                except Exception as e2:  # noqa: BLE001 - truncated chunk, bad CRC, cut-off record
                    rec.error_reason, rec.error = describe(e2, head)
                if rec.error is None:
                    rec.error_reason = "index_unreadable"
                    rec.error = f"MCAP index unreadable ({describe(e, head)[1]}); all records read sequentially"
    if rec.notes.get("out_of_order"):
        rec.events.sort(key=_time_key)
    if rec.total_messages == 0 and rec.error is None:
        rec.notes["empty_recording"] += 1
    return rec


def _read_all(rec: Recording, messages: Any) -> None:
    kinds: dict[int, str | None] = {}
    last_t = None
    for schema, channel, message in messages:
        rec.total_messages += 1
        _take(rec, schema, channel, message, kinds)
        if last_t is not None and message.log_time < last_t:
            rec.notes["out_of_order"] += 1
        last_t = message.log_time if last_t is None else max(last_t, message.log_time)


def _time_key(ev: Event) -> int:
    return ev.timestamp_ns


_decode_json = json.JSONDecoder().decode


def _take(rec: Recording, schema: Any, channel: Any, message: Any, kinds: dict[int, str | None]) -> None:
    if schema is None:
        rec.skipped["no_schema"] += 1
        return
    if schema.id not in kinds:
        kinds[schema.id] = message_kind(schema.name)
    kind = kinds[schema.id]
    if kind is None:
        rec.skipped[f"unknown_schema:{schema.name}"] += 1
        return
    if channel.message_encoding != "json":
        rec.skipped[f"unsupported_encoding:{channel.message_encoding}"] += 1
        return
    data = bytes(message.data)
    try:
        payload = _decode_json(data.decode("utf-8"))
    except ValueError:  # also UnicodeDecodeError
        payload = None
    if not isinstance(payload, dict):
        rec.skipped["bad_json"] += 1
        return
    rec.events.append(Event(channel.topic, int(message.log_time), schema.name, data, _droppable(kind, payload)))


def _droppable(kind: str, payload: dict[str, Any]) -> bool:
    """Movement and snapshots may be rate-limited; key, button and wheel events never."""
    if kind == "KeyboardEvent":
        return False
    if kind == "MouseEvent":
        return payload.get("event_type") == "move"
    if kind == "RawMouseEvent":
        return not payload.get("button_flags")
    return True
