"""The dataset registry: names (as the seeds spell them) to dataset classes or factories."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from molmo2_data.datasets.base import Dataset, _unknown
from molmo2_data.errors import ConfigError, UnknownDatasetError

_REGISTRY: dict[str, Callable[..., Dataset]] = {}
_ALIASES: dict[str, str] = {}

T = TypeVar("T")


def register_dataset(name: str, *, aliases: tuple[str, ...] = (), overwrite: bool = False) -> Callable[[T], T]:
    """Class (or factory) decorator: ``@register_dataset("my-dataset")``. The factory is called as
    ``factory(split=..., **kwargs)``."""

    def decorate(factory: T) -> T:
        for key in (name, *aliases):
            if not overwrite and (key in _REGISTRY or key in _ALIASES) and _resolve(key) is not factory:
                raise ConfigError(f"dataset name {key!r} is already registered")
        _REGISTRY[name] = factory  # type: ignore[assignment]
        for alias in aliases:
            _ALIASES[alias] = name
        if isinstance(factory, type) and not getattr(factory, "NAME", ""):
            factory.NAME = name  # type: ignore[attr-defined]
        if isinstance(factory, type) and "name" not in vars(factory) and getattr(factory, "name", None) == "dataset":
            factory.name = name  # type: ignore[attr-defined]  # a hand-written class: metadata names its dataset
        return factory

    return decorate


# Official names that are a catalog dataset with options (e.g. ``chart_qa_weighted`` = chart-qa with
# ``weighted=True``): resolved by ``get_dataset``, not listed as datasets of their own (same tables).
_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {}


def register_variant(name: str, dataset: str, **options: Any) -> None:
    """``get_dataset(name)`` = ``get_dataset(dataset, **options)`` (options given by the caller win)."""
    _VARIANTS[name] = (dataset, dict(options))


def variant_of(name: str) -> tuple[str, dict[str, Any]] | None:
    """(dataset, options) of an official variant name, in its spellings (``chart_qa_weighted``,
    ``chart-qa-weighted``), else None."""
    norm = name.lower().replace("-", "_")
    return next((v for k, v in _VARIANTS.items() if k.lower().replace("-", "_") == norm), None)


def _resolve(name: str) -> Callable[..., Dataset] | None:
    return _REGISTRY.get(_ALIASES.get(name, name))


def canonical_name(name: str) -> str:
    _ensure_builtin()
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        # also accept official/internal spellings: underscores, HF ids, any case
        norm = name.lower().replace("_", "-").split("/")[-1]
        for k in list(_REGISTRY) + list(_ALIASES):
            if k.lower() == norm:
                return _ALIASES.get(k, k)
        variant = variant_of(name)  # an official variant name (a_okvqa_da, cosyn_chart_exp): its dataset
        if variant is not None:
            return canonical_name(variant[0])
        if name in _BROKEN:
            err = _BROKEN[name]
            raise type(err)(str(err)) from err
        raise UnknownDatasetError(_unknown("unknown dataset", name, list_datasets()))
    return key


def get_dataset(name: str, split: str = "train", **kwargs: Any) -> Dataset:
    """Instantiate a registered dataset: ``get_dataset("pixmo-points", split="train")``. An official
    variant name (``chart_qa_weighted``) opens its dataset with the variant's options."""
    _ensure_builtin()
    variant = variant_of(name) if name not in _REGISTRY and name not in _ALIASES else None
    if variant is not None:
        name, kwargs = variant[0], {**variant[1], **kwargs}
    factory = _REGISTRY[canonical_name(name)]
    if "root" in kwargs and not _accepts(factory, "root"):
        kwargs.pop("root")  # a hand-written dataset that knows its own paths
    return factory(split=split, **kwargs)


def _accepts(factory: Callable[..., Any], arg: str) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return True
    return arg in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def dataset_class(name: str) -> Callable[..., Dataset]:
    return _REGISTRY[canonical_name(name)]


def list_datasets() -> list[str]:
    _ensure_builtin()
    return sorted(_REGISTRY)


# Hooks run before every lookup (the custom-dataset folder registers itself here: ``datasets.custom``
# imports this module, never the other way round, so the import graph has no cycle).
_LOOKUP_HOOKS: list[Callable[[], None]] = []
# Names whose config is broken: a lookup raises the config's own error instead of "unknown dataset".
_BROKEN: dict[str, ConfigError] = {}


def add_lookup_hook(hook: Callable[[], None]) -> None:
    """Call ``hook()`` before each name lookup (it must be cheap when there is nothing new to do)."""
    if hook not in _LOOKUP_HOOKS:
        _LOOKUP_HOOKS.append(hook)


def mark_broken(name: str, error: ConfigError) -> None:
    """Remember that the config of ``name`` could not be loaded: ``get_dataset(name)`` re-raises ``error``."""
    _BROKEN[name] = error


def clear_broken(name: str) -> None:
    _BROKEN.pop(name, None)


def is_registered(name: str) -> bool:
    return name in _REGISTRY or name in _ALIASES


def _ensure_builtin() -> None:
    """The built-in readers registered themselves when ``molmo2_data.datasets`` (the package this module
    lives in) was imported; run the lookup hooks (custom configs of the current data root)."""
    for hook in list(_LOOKUP_HOOKS):
        hook()
