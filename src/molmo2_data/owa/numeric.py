"""Numeric action and state columns of a window (OWA.md §10: "offer numeric action/state columns, e.g.
for LeRobot-style consumers, alongside text"), derived exactly from the window's encoded events.

``action_vectors``: one row per encoded event, float64, columns :data:`ACTION_FIELDS`:

==========  ======================================================================================
time_s      seconds from the window start (the event's exact nanoseconds / 1e9)
bin         window-relative bin of the event (``metadata.event_bin_offsets``)
kind        :data:`KIND_CODES` (keyboard 0, mouse 1, keyboard state 2, mouse state 3, raw mouse 4,
            other -1)
event       keyboard press 0 / release 1; mouse move 0 / click 1 / scroll 2; NaN otherwise
x, y        mouse position (desktop pixels, not frame pixels); NaN when the event has none
dx, dy      scroll amounts (raw mouse: the relative motion); NaN otherwise
button      :data:`BUTTON_CODES` for clicks (left 0, right 1, middle 2, x1 3, x2 4, other -1)
pressed     1 (down) / 0 (up) for clicks and key presses / releases
vk          the virtual-key code of key events
==========  ======================================================================================

``state_vectors``: one row per bin, columns :data:`STATE_FIELDS`, the state at the *start* of the bin
(before its first action, so a bin's actions never leak into its own state): the last mouse position,
the held mouse buttons as a bitmask over :data:`BUTTON_CODES` and the number of held keys. Values are
NaN until the window has shown them: a position from any positioned mouse event, held buttons and keys
from a ``mouse/state`` / ``keyboard/state`` snapshot (authoritative when it arrives; events update it
afterwards; the keyboard snapshot's list is ``buttons``, or ``pressed_vk_list`` in 0.3.0 recordings). Windows carry no history from earlier windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from molmo2_data.owa.encoder import DecodedEvent, EventEncoder

ACTION_FIELDS = ("time_s", "bin", "kind", "event", "x", "y", "dx", "dy", "button", "pressed", "vk")
STATE_FIELDS = ("mouse_x", "mouse_y", "mouse_buttons", "keys_held")
KIND_CODES = {"KeyboardEvent": 0, "MouseEvent": 1, "KeyboardState": 2, "MouseState": 3, "RawMouseEvent": 4}
EVENT_CODES = {"KeyboardEvent": {"press": 0, "release": 1}, "MouseEvent": {"move": 0, "click": 1, "scroll": 2}}
BUTTON_CODES = {"left": 0, "right": 1, "middle": 2, "x1": 3, "x2": 4}

_COL = {name: i for i, name in enumerate(ACTION_FIELDS)}


def _kind(e: DecodedEvent) -> str:
    return e.message_type.rsplit("/", 1)[-1]


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan


def action_row(e: DecodedEvent, bin_offset: int) -> np.ndarray:
    row = np.full(len(ACTION_FIELDS), np.nan)
    kind, p = _kind(e), e.payload
    row[_COL["time_s"]] = e.timestamp_ns / 1e9
    row[_COL["bin"]] = bin_offset
    row[_COL["kind"]] = KIND_CODES.get(kind, -1)
    event = EVENT_CODES.get(kind, {}).get(p.get("event_type"))
    if event is not None:
        row[_COL["event"]] = event
    if kind in ("MouseEvent", "MouseState"):
        row[_COL["x"]], row[_COL["y"]] = _num(p.get("x")), _num(p.get("y"))
    if kind == "MouseEvent" and p.get("event_type") == "scroll":
        row[_COL["dx"]], row[_COL["dy"]] = _num(p.get("dx")), _num(p.get("dy"))
    if kind == "RawMouseEvent":
        row[_COL["dx"]], row[_COL["dy"]] = _num(p.get("dx")), _num(p.get("dy"))
    if kind == "MouseEvent" and p.get("event_type") == "click":
        row[_COL["button"]] = BUTTON_CODES.get(p.get("button"), -1)
        row[_COL["pressed"]] = float(bool(p.get("pressed")))
    if kind == "KeyboardEvent":
        row[_COL["vk"]] = _num(p.get("vk"))
        row[_COL["pressed"]] = float(p.get("event_type") == "press")
    return row


def action_vectors(events: Sequence[DecodedEvent], bin_offsets: Sequence[int]) -> np.ndarray:
    """(N, len(ACTION_FIELDS)) float64; ``events`` decoded relative to the window start."""
    if len(events) != len(bin_offsets):
        raise ValueError(f"{len(events)} events but {len(bin_offsets)} bin offsets")
    rows = [action_row(e, int(b)) for e, b in zip(events, bin_offsets, strict=True)]
    return np.stack(rows) if rows else np.zeros((0, len(ACTION_FIELDS)))


def state_vectors(events: Sequence[DecodedEvent], bin_offsets: Sequence[int], num_bins: int) -> np.ndarray:
    """(num_bins, len(STATE_FIELDS)) float64: the state at the start of each bin (see module doc)."""
    if any(a > b for a, b in zip(bin_offsets, bin_offsets[1:], strict=False)):
        raise ValueError("bin offsets must be non-decreasing (events in time order)")
    out = np.full((num_bins, len(STATE_FIELDS)), np.nan)
    x = y = np.nan
    buttons: set[int] | None = None  # None = not known yet in this window
    keys: set[int] | None = None
    k = 0
    for b in range(num_bins):
        out[b] = (x, y, np.nan if buttons is None else float(sum(1 << i for i in buttons)),
                  np.nan if keys is None else float(len(keys)))
        while k < len(events) and bin_offsets[k] == b:
            e, p = events[k], events[k].payload
            kind = _kind(e)
            if kind in ("MouseEvent", "MouseState") and np.isfinite(_num(p.get("x"))) and np.isfinite(_num(p.get("y"))):
                x, y = float(p["x"]), float(p["y"])
            if kind == "MouseState" and isinstance(p.get("buttons"), list):
                buttons = {BUTTON_CODES[n] for n in p["buttons"] if n in BUTTON_CODES}
            elif kind == "MouseEvent" and p.get("event_type") == "click" and buttons is not None \
                    and p.get("button") in BUTTON_CODES:
                (buttons.add if p.get("pressed") else buttons.discard)(BUTTON_CODES[p["button"]])
            held = keyboard_state_keys(p) if kind == "KeyboardState" else None
            if held is not None:
                keys = held
            elif kind == "KeyboardEvent" and keys is not None and isinstance(p.get("vk"), int):
                (keys.add if p.get("event_type") == "press" else keys.discard)(p["vk"])
            k += 1
    return out


def keyboard_state_keys(payload: dict[str, Any]) -> set[int] | None:
    """Held VK codes of a KeyboardState payload: ``buttons`` (0.3.2+) or ``pressed_vk_list`` (recordings of
    mcap-owa-support 0.1.0 / format 0.3.0, OWA.md §4); None when the payload has neither list."""
    for field in ("buttons", "pressed_vk_list"):
        value = payload.get(field)
        if isinstance(value, list):
            return {int(v) for v in value if isinstance(v, int) and not isinstance(v, bool)}
    return None


def window_vectors(encoded_events: Sequence[str], bin_offsets: Sequence[int], num_bins: int,
                   encoder: EventEncoder | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(action_vectors, state_vectors) of one window from its encoded events."""
    decoded = (encoder or EventEncoder()).decode_many(list(encoded_events))
    return action_vectors(decoded, bin_offsets), state_vectors(decoded, bin_offsets, num_bins)
