"""Seed-compatible import path: ``from molmo2_data.loaders import get_dataloader``."""

from molmo2_data.loading.loader import get_dataloader

__all__ = ["get_dataloader"]
