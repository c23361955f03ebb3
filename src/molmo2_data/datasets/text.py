"""Readers of the text-only instruction data of the mixtures."""
