"""Up-front checks of ``get_dataloader``'s arguments, of mixtures, and the state fingerprint.

Why: a bad value must fail at once with a :class:`ConfigError` naming the argument — ``batch_size=0``
used to loop forever while memory grew, a NaN mixture rate turned every rate into NaN, and a state from
another stage or seed resumed silently into a different stream.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from collections.abc import Mapping
from numbers import Integral
from typing import Any

from molmo2_data.errors import ConfigError, UnknownDatasetError
from molmo2_data.loading.mixtures import STAGES, Mixture, StageConfig, check_rate
from molmo2_data.loading.packing import SOLVERS

FRAMEWORKS = ("torch", "numpy")
PAD_TO = ("max", "longest")


def _is_int(x: Any) -> bool:
    return isinstance(x, Integral) and not isinstance(x, bool)  # numpy integers too


def check_int(name: str, value: Any, minimum: int, optional: bool = False) -> None:
    """``value`` is an int (not a bool) >= ``minimum`` (or None when ``optional``)."""
    if value is None and optional:
        return
    if not _is_int(value) or value < minimum:
        what = {0: "an integer >= 0", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ConfigError(f"{name} must be {what}{' or None' if optional else ''}, got {value!r}")


def check_choice(name: str, value: Any, choices: tuple[str, ...] | list[str], optional: bool = False) -> None:
    """``value`` is one of ``choices`` (close matches suggested for a typo)."""
    if value is None and optional:
        return
    if not isinstance(value, str) or value not in choices:
        from molmo2_data.datasets.base import _unknown

        raise ConfigError(_unknown(f"unknown {name}", value, list(choices)) if isinstance(value, str)
                          else f"{name} must be one of {', '.join(choices)}, got {value!r}")


def check_bool(name: str, value: Any, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False{' or None' if optional else ''}, got {value!r}")


def check_arguments(*, stage: Any, batch_size: Any, num_workers: Any, seed: Any, rank: Any, world_size: Any,
                    tokenizer: Any, sequence_length: Any, split: Any, root: Any, packing: Any, mixture: Any,
                    max_frames: Any, pad_to: Any, framework: Any, prefetch_factor: Any, packing_buffer: Any,
                    packing_solver: Any, prefetch_batches: Any, pin_memory: Any) -> None:
    """Every argument of ``get_dataloader``, before any work starts."""
    from molmo2_data.text.tokenizer import Molmo2Tokenizer

    if not isinstance(stage, StageConfig):
        check_choice("stage", stage, list(STAGES))
    check_int("batch_size", batch_size, 1)
    check_int("num_workers", num_workers, 0)
    check_int("seed", seed, 0, optional=True)
    check_int("rank", rank, 0, optional=True)
    check_int("world_size", world_size, 1, optional=True)
    if rank is not None and world_size is not None and rank >= world_size:
        raise ConfigError(f"rank must be in [0, world_size), got rank={rank} with world_size={world_size}")
    if not isinstance(tokenizer, str | os.PathLike | Molmo2Tokenizer) or tokenizer in ("", None):
        raise ConfigError(f"tokenizer must be a name, a folder path or a Molmo2Tokenizer, got {tokenizer!r}")
    check_int("sequence_length", sequence_length, 16, optional=True)
    if not isinstance(split, str) or not split:
        raise ConfigError(f"split must be a non-empty string, got {split!r}")
    if root is not None and not isinstance(root, str | os.PathLike):
        raise ConfigError(f"root must be a path or None, got {root!r}")
    check_bool("packing", packing, optional=True)
    if mixture is not None and not isinstance(mixture, Mixture | Mapping | list | tuple | str | os.PathLike):
        raise ConfigError(f"mixture must be a dict, a list of {{'name', 'weight'}}, a YAML/JSON file path or a "
                          f"Mixture, got {type(mixture).__name__}")
    check_int("max_frames", max_frames, 1, optional=True)
    check_choice("pad_to", pad_to, PAD_TO)
    check_choice("framework", framework, FRAMEWORKS)
    check_int("prefetch_factor", prefetch_factor, 1, optional=True)
    check_int("packing_buffer", packing_buffer, 1)
    check_choice("packing_solver", packing_solver, SOLVERS, optional=True)
    check_int("prefetch_batches", prefetch_batches, 0)
    check_bool("pin_memory", pin_memory)


def check_mixture(mixture: Mixture, known: bool = True) -> None:
    """Rates finite, >= 0 and not all 0; sizes and multipliers finite and >= 0; member names non-empty
    strings and (``known``) registered datasets, with close matches for a typo."""
    if not isinstance(mixture, Mixture):
        raise ConfigError(f"mixture must be a Mixture, got {type(mixture).__name__}")
    if not mixture.groups:
        raise ConfigError(f"mixture {mixture.name!r} has no groups")
    for g in mixture.groups:
        check_rate(f"mixture {mixture.name!r}: rate of group {g.name!r}", g.rate)
        if not g.members:
            raise ConfigError(f"mixture {mixture.name!r}: group {g.name!r} has no members")
        for m in g.members:
            where = f"mixture {mixture.name!r}: member {m.name!r}"
            if not isinstance(m.dataset, str) or not m.dataset.strip():
                raise ConfigError(f"mixture {mixture.name!r}: a member's dataset name must be a non-empty string, "
                                  f"got {m.dataset!r}")
            if m.size is not None:
                check_rate(f"{where}: size", m.size)
            check_rate(f"{where}: multiplier", m.multiplier)
            if m.loss_weight is not None:
                check_rate(f"{where}: loss_weight", m.loss_weight)
            if known:
                _check_known(where, m.dataset)
    if not any(g.rate > 0 and any(m.multiplier > 0 for m in g.members) for g in mixture.groups):
        raise ConfigError(f"mixture {mixture.name!r}: every rate is 0; at least one must be > 0")


def _check_known(where: str, dataset: str) -> None:
    from molmo2_data.datasets.registry import canonical_name

    try:
        canonical_name(dataset)
    except UnknownDatasetError as e:
        raise ConfigError(f"{where}: {e}") from None


# ---- state fingerprint ---------------------------------------------------------------------------

_TOKENIZER_HASHES: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def tokenizer_identity(tok: Any) -> dict[str, Any]:
    """Name, vocabulary size and a hash of the full tokenizer definition (cached per instance)."""
    digest = _TOKENIZER_HASHES.get(tok)
    if digest is None:
        inner = getattr(tok, "tok", None)
        text = inner.to_str() if inner is not None and hasattr(inner, "to_str") else repr(tok)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        _TOKENIZER_HASHES[tok] = digest
    folder = getattr(tok, "folder", None)
    return {"name": os.path.basename(str(folder)) if folder is not None else type(tok).__name__,
            "vocab_size": int(getattr(tok, "vocab_size", 0)), "hash": digest}


def fingerprint(*, stage: str, rates: Mapping[str, float], seed: int, sequence_length: int,
                packing: Mapping[str, Any] | None, tokenizer: Mapping[str, Any], max_frames: int,
                split: str) -> dict[str, Any]:
    """What a state is only valid for: resuming under anything else would change the stream."""
    return {"stage": stage, "mixture": {k: round(float(v), 9) for k, v in sorted(rates.items())}, "seed": seed,
            "sequence_length": sequence_length, "max_frames": max_frames, "split": split,
            "packing": dict(packing) if packing is not None else None, "tokenizer": dict(tokenizer)}


def fingerprint_differences(saved: Mapping[str, Any], mine: Mapping[str, Any]) -> list[str]:
    """Human-readable differences ``key: saved -> this loader``; empty when they match."""
    out = []
    for key in mine:
        if key not in saved:
            continue
        a, b = saved[key], mine[key]
        if key == "tokenizer" and isinstance(a, Mapping) and isinstance(b, Mapping):
            a, b = dict(a), dict(b)  # the same definition under another folder name is the same tokenizer
            if a.get("hash") == b.get("hash") and a.get("vocab_size") == b.get("vocab_size"):
                continue
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            sub = [f"{key}.{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b), key=str)
                   if a.get(k) != b.get(k)]
            out.extend(sub[:6] + ([f"{key}: {len(sub) - 6} more"] if len(sub) > 6 else []))
        else:
            out.append(f"{key}: {a!r} -> {b!r}")
    return out
