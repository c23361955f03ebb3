"""Media decoding: images with Pillow, videos with PyAV."""
