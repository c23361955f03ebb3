"""One pixel limit for every decoded image and video frame, checked from the header before decoding.

Why our own: Pillow only *raises* above twice its ``MAX_IMAGE_PIXELS`` and merely warns below, so a
529-megapixel PNG decoded to 2.6 GB before anything stopped it; video frames had no limit at all.
The limit is, in order of precedence: :func:`set_max_pixels` (process-wide, e.g. from a config), the
environment variable ``MOLMO2_DATA_MAX_PIXELS`` (read at each check, so child processes follow it),
then :data:`DEFAULT_MAX_PIXELS`. A ``max_pixels=`` argument of a decode function beats all three.
"""

from __future__ import annotations

import os
import stat

from molmo2_data.errors import ConfigError, MediaDecodeError, MediaMissingError

DEFAULT_MAX_PIXELS = 16384 * 16384
"""268 MP: far above any training image (a 16k x 16k RGB decode is 0.8 GB), far below a bomb."""

ENV_VAR = "MOLMO2_DATA_MAX_PIXELS"

_override: int | None = None


def _positive(value: object, where: str) -> int:
    try:
        n = int(str(value).replace("_", "").strip())
    except ValueError:
        n = 0
    if n <= 0:
        raise ConfigError(f"{where} must be a positive integer number of pixels, got {value!r}")
    return n


def set_max_pixels(n: int | None) -> None:
    """Set the process-wide limit (``None``: back to ``$MOLMO2_DATA_MAX_PIXELS`` or the default)."""
    global _override
    _override = None if n is None else _positive(n, "max_pixels")


def max_pixels() -> int:
    """The limit in force (see the module docstring for the order of precedence)."""
    if _override is not None:
        return _override
    env = os.environ.get(ENV_VAR)
    return DEFAULT_MAX_PIXELS if env is None or not env.strip() else _positive(env, ENV_VAR)


def check_pixels(width: int, height: int, path: object, what: str = "image", limit: int | None = None) -> None:
    """Raise :class:`MediaDecodeError` when ``width * height`` exceeds the limit (nothing decoded yet)."""
    cap = max_pixels() if limit is None else limit
    n = int(width) * int(height)
    if n > cap:
        raise MediaDecodeError(f"{what} too large: {width} x {height} = {n} pixels > limit {cap} "
                               f"(set {ENV_VAR} to raise it): {path}", path=str(path))


_KINDS = ((stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
          (stat.S_ISSOCK, "socket"), (stat.S_ISDIR, "directory"))


def kind_of(mode: int) -> str:
    """'regular file', 'fifo', 'directory', ... for an ``st_mode``."""
    if stat.S_ISREG(mode):
        return "regular file"
    return next((name for test, name in _KINDS if test(mode)), "special file")


def require_regular_file(path: str | os.PathLike, what: str = "media") -> os.stat_result:
    """Stat ``path`` (without opening it) and refuse anything but a regular file: opening a FIFO blocks
    until a writer appears (the loader hung forever), and a device file may never end."""
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        raise MediaMissingError(f"{what} file not found: {path}", path=str(path)) from e
    except OSError as e:  # permission denied, name too long, a loop of symlinks...
        raise MediaDecodeError(f"cannot read {what} file: {path}: {e.strerror or e}", path=str(path)) from e
    if not stat.S_ISREG(st.st_mode):
        raise MediaDecodeError(f"not a regular file: {kind_of(st.st_mode)}: {path}", path=str(path))
    return st
