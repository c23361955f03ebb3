"""URL rewriting for mirrors: fetch ``http://a/x`` from ``http://mirror/x`` while the file keeps the
cache key of the URL the table names (sha256 of the original URL), so readers still find it.

Rules are ``PREFIX=REPLACEMENT`` pairs, from ``--url-map`` (repeatable) or ``$MOLMO2_URL_MAP``
(several rules separated by ``,`` or whitespace); the longest matching prefix wins.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from molmo2_data.errors import ConfigError

ENV_VAR = "MOLMO2_URL_MAP"


class UrlMap:
    """Prefix rewrite rules applied to a URL just before it is requested."""

    def __init__(self, rules: Iterable[str] = ()):
        pairs: list[tuple[str, str]] = []
        for rule in rules:
            if "=" not in rule:
                raise ConfigError(f"url map rule must be PREFIX=REPLACEMENT, got {rule!r}")
            prefix, repl = rule.split("=", 1)
            if not prefix:
                raise ConfigError(f"url map rule has an empty prefix: {rule!r}")
            pairs.append((prefix, repl))
        self.rules = sorted(pairs, key=lambda p: -len(p[0]))

    @classmethod
    def from_env_and_args(cls, args: Iterable[str] | None = None) -> UrlMap:
        env = os.environ.get(ENV_VAR, "")
        rules = [r for r in env.replace(",", " ").split() if r]
        return cls([*rules, *(args or [])])

    def __call__(self, url: str) -> str:
        for prefix, repl in self.rules:
            if url.startswith(prefix):
                return repl + url[len(prefix):]
        return url

    def __bool__(self) -> bool:
        return bool(self.rules)
