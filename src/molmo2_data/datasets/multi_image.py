"""Readers of the Molmo2 multi-image datasets."""
