"""Sample writers of the multi-image sets and the text-only sets."""
