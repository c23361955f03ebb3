"""A documented, exact text form of desktop events (replaces the seed's ``repr``/``eval`` encoder).

One event is one line-free string::

    <EVENT_START>{time} {topic} {KIND} {body}<EVENT_END>

* ``time``: seconds relative to the window start, written from integer nanoseconds with exactly nine
  decimals (``0.052100000``, ``-0.000000001``), so decoding gives the same integer nanoseconds.
* ``topic``: the event's real topic (``keyboard``, ``mouse``, ``mouse/state`` ...; no whitespace).
* ``KIND`` and ``body``:

  =================  ==============================================  ==============================
  KIND               body                                            payload
  =================  ==============================================  ==============================
  ``KEYBOARD``       ``press 84`` / ``release 84``                   ``{event_type, vk}``
  ``MOUSE``          ``move 852 613``                                ``{event_type:move, x, y}``
  ``MOUSE``          ``click 872 579 left down`` (``up``)            ``+ button, pressed``
  ``MOUSE``          ``scroll 872 579 0 -1``                         ``+ dx, dy``
  ``KEYBOARD_STATE`` ``84,69`` or ``-`` (none held)                  ``{buttons}``
  ``MOUSE_STATE``    ``852 614 left,right`` or ``852 614 -``          ``{x, y, buttons}``
  any kind           ``json {...}``                                  anything else (exact JSON)
  =================  ==============================================  ==============================

  Other kinds are ``WINDOW``, ``SCREEN``, ``MOUSE_RAW`` (always ``json``); a message type that is
  not an OWA desktop type is written as ``TYPE:<schema name>`` with a ``json`` body. Payloads that
  do not fit the compact form exactly (extra keys such as ``timestamp``, unusual values) use ``json``.

``decode(encode(e, base), base) == e`` for every event, with ``message_type`` normalised to the
canonical ``desktop/<Kind>`` name (the schema name of the 0.4+ writers). Nothing is ``eval``-ed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from molmo2_data.owa.reader import CANONICAL_TYPE, message_kind

START, END = "<EVENT_START>", "<EVENT_END>"
_KIND_TOKEN = {"KeyboardEvent": "KEYBOARD", "KeyboardState": "KEYBOARD_STATE", "MouseEvent": "MOUSE",
               "MouseState": "MOUSE_STATE", "RawMouseEvent": "MOUSE_RAW", "WindowInfo": "WINDOW",
               "ScreenCaptured": "SCREEN"}
_TOKEN_KIND = {v: k for k, v in _KIND_TOKEN.items()}
_NAME = re.compile(r"^[^\s<>]+$")
_TIME = re.compile(r"^(-?)(\d+)\.(\d{9})$")


class EventFormatError(ValueError):
    """A string is not an encoded event, or an event cannot be written in this format."""


@dataclass(frozen=True)
class DecodedEvent:
    topic: str
    timestamp_ns: int
    message_type: str
    payload: dict[str, Any]


def format_time(rel_ns: int) -> str:
    sign = "-" if rel_ns < 0 else ""
    s, ns = divmod(abs(int(rel_ns)), 1_000_000_000)
    return f"{sign}{s}.{ns:09d}"


def parse_time(text: str) -> int:
    m = _TIME.match(text)
    if not m:
        raise EventFormatError(f"bad event time {text!r} (expected seconds with 9 decimals)")
    v = int(m.group(2)) * 1_000_000_000 + int(m.group(3))
    return -v if m.group(1) else v


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _ints(text: str) -> int:
    if not re.fullmatch(r"-?\d+", text):
        raise EventFormatError(f"expected an integer, got {text!r}")
    return int(text)


def _compact(kind: str, d: dict[str, Any]) -> str | None:
    """The compact body, or None when the payload does not fit it exactly."""
    keys = set(d)
    if kind == "KeyboardEvent" and keys == {"event_type", "vk"} and d["event_type"] in ("press", "release") \
            and _is_int(d["vk"]):
        return f"{d['event_type']} {d['vk']}"
    if kind == "MouseEvent" and _is_int(d.get("x")) and _is_int(d.get("y")):
        et, xy = d.get("event_type"), f"{d['x']} {d['y']}"
        if et == "move" and keys == {"event_type", "x", "y"}:
            return f"move {xy}"
        if et == "click" and keys == {"event_type", "x", "y", "button", "pressed"} \
                and isinstance(d["pressed"], bool) and isinstance(d["button"], str) and _NAME.match(d["button"]):
            return f"click {xy} {d['button']} {'down' if d['pressed'] else 'up'}"
        if et == "scroll" and keys == {"event_type", "x", "y", "dx", "dy"} and _is_int(d["dx"]) and _is_int(d["dy"]):
            return f"scroll {xy} {d['dx']} {d['dy']}"
    if kind == "KeyboardState" and keys == {"buttons"} and isinstance(d["buttons"], list) \
            and all(_is_int(b) for b in d["buttons"]):
        return ",".join(str(b) for b in d["buttons"]) or "-"
    if kind == "MouseState" and keys == {"x", "y", "buttons"} and _is_int(d["x"]) and _is_int(d["y"]) \
            and isinstance(d["buttons"], list) \
            and all(isinstance(b, str) and b and re.fullmatch(r"[^\s,<>]+", b) and b != "-" for b in d["buttons"]):
        return f"{d['x']} {d['y']} {','.join(d['buttons']) or '-'}"
    return None


def _expand(kind: str, body: str) -> dict[str, Any]:
    parts = body.split(" ")
    try:
        if kind == "KeyboardEvent" and len(parts) == 2 and parts[0] in ("press", "release"):
            return {"event_type": parts[0], "vk": _ints(parts[1])}
        if kind == "MouseEvent":
            out: dict[str, Any] = {"event_type": parts[0], "x": _ints(parts[1]), "y": _ints(parts[2])}
            if parts[0] == "move" and len(parts) == 3:
                return out
            if parts[0] == "click" and len(parts) == 5 and parts[4] in ("down", "up"):
                return {**out, "button": parts[3], "pressed": parts[4] == "down"}
            if parts[0] == "scroll" and len(parts) == 5:
                return {**out, "dx": _ints(parts[3]), "dy": _ints(parts[4])}
        if kind == "KeyboardState" and len(parts) == 1:
            return {"buttons": [] if body == "-" else [_ints(b) for b in body.split(",")]}
        if kind == "MouseState" and len(parts) == 3:
            return {"x": _ints(parts[0]), "y": _ints(parts[1]),
                    "buttons": [] if parts[2] == "-" else parts[2].split(",")}
    except IndexError:
        pass
    raise EventFormatError(f"bad {kind} body {body!r}")


class EventEncoder:
    """Encode events as text relative to a base time, and decode them back exactly."""

    def encode(self, topic: str, timestamp_ns: int, message_type: str, msg: bytes | str | dict[str, Any],
               base_ns: int = 0) -> str:
        if not _NAME.match(topic):
            raise EventFormatError(f"topic {topic!r} must be non-empty without whitespace or <>")
        payload = json.loads(msg) if isinstance(msg, bytes | str) else msg
        if not isinstance(payload, dict):
            raise EventFormatError("an event payload must be a JSON object")
        kind = message_kind(message_type)
        if kind is None:
            if not _NAME.match(message_type):
                raise EventFormatError(f"message type {message_type!r} must not contain whitespace or <>")
            token, body = f"TYPE:{message_type}", None
        else:
            token, body = _KIND_TOKEN[kind], _compact(kind, payload)
        if body is None:
            body = "json " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        if "\n" in body or END in body:
            raise EventFormatError("payload text contains a newline or the end marker")
        return f"{START}{format_time(timestamp_ns - base_ns)} {topic} {token} {body}{END}"

    def decode(self, text: str, base_ns: int = 0) -> DecodedEvent:
        if not (text.startswith(START) and text.endswith(END)):
            raise EventFormatError(f"not an encoded event: {text[:60]!r}")
        parts = text[len(START):-len(END)].split(" ", 3)
        if len(parts) != 4:
            raise EventFormatError(f"not an encoded event: {text[:60]!r}")
        time_text, topic, token, body = parts
        if token.startswith("TYPE:"):
            kind, message_type = None, token[5:]
        elif token in _TOKEN_KIND:
            kind = _TOKEN_KIND[token]
            message_type = CANONICAL_TYPE[kind]
        else:
            raise EventFormatError(f"unknown event kind {token!r}")
        if body.startswith("json "):
            payload = json.loads(body[5:])
        elif kind is None:
            raise EventFormatError(f"event of type {message_type!r} needs a json body")
        else:
            payload = _expand(kind, body)
        return DecodedEvent(topic, parse_time(time_text) + base_ns, message_type, payload)

    def decode_many(self, texts: list[str], base_ns: int = 0) -> list[DecodedEvent]:
        return [self.decode(t, base_ns) for t in texts]
