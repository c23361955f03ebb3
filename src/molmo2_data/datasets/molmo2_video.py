"""Readers of the Molmo2 video datasets (allenai/Molmo2-*)."""
