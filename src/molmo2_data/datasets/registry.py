"""The dataset registry: names (as the seeds spell them) to dataset classes or factories."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from molmo2_data.datasets.base import Dataset, _unknown
from molmo2_data.errors import UnknownDatasetError

_REGISTRY: dict[str, Callable[..., Dataset]] = {}
_ALIASES: dict[str, str] = {}

T = TypeVar("T")


def register_dataset(name: str, *, aliases: tuple[str, ...] = (), overwrite: bool = False) -> Callable[[T], T]:
    """Class (or factory) decorator: ``@register_dataset("my-dataset")``. The factory is called as
    ``factory(split=..., **kwargs)``."""

    def decorate(factory: T) -> T:
        for key in (name, *aliases):
            if not overwrite and (key in _REGISTRY or key in _ALIASES) and _resolve(key) is not factory:
                raise ValueError(f"dataset name {key!r} is already registered")
        _REGISTRY[name] = factory  # type: ignore[assignment]
        for alias in aliases:
            _ALIASES[alias] = name
        if isinstance(factory, type) and not getattr(factory, "NAME", ""):
            factory.NAME = name  # type: ignore[attr-defined]
        return factory

    return decorate


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
        raise UnknownDatasetError(_unknown("unknown dataset", name, list_datasets()))
    return key


def get_dataset(name: str, split: str = "train", **kwargs: Any) -> Dataset:
    """Instantiate a registered dataset: ``get_dataset("pixmo-points", split="train")``."""
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


_CUSTOM_LOADED: set[str] = set()


def _ensure_builtin() -> None:
    """Register the built-in readers (by importing them) and the custom configs under
    ``$MOLMO_DATA_DIR/custom`` (once per data root)."""
    import molmo2_data.datasets  # noqa: F401
    from molmo2_data.paths import data_root

    custom = data_root() / "custom"
    if str(custom) not in _CUSTOM_LOADED:
        _CUSTOM_LOADED.add(str(custom))
        from molmo2_data.datasets.custom import register_configs_in

        register_configs_in(custom)
