"""Molmo2 vision preprocessing: images (multi-crop), multi-image and video (FORMATS §3, §4)."""

from molmo2_data.vision.image import (
    ImageConfig,
    ImageInputs,
    arange_for_pooling,
    preprocess_image,
    preprocess_images,
    select_tiling,
)
from molmo2_data.vision.preprocessor import VisionPreprocessor
from molmo2_data.vision.resize import siglip_resize
from molmo2_data.vision.video import VideoConfig, VideoInputs, preprocess_video, sample_times

__all__ = [
    "ImageConfig", "ImageInputs", "VideoConfig", "VideoInputs", "VisionPreprocessor", "arange_for_pooling",
    "preprocess_image", "preprocess_images", "preprocess_video", "sample_times", "select_tiling",
    "siglip_resize",
]
