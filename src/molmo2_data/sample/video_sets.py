"""Sample writers of the Molmo2 video sets."""
