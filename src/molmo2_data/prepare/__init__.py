"""Offline preparation of media for training (``molmo2-data prepare``; docs/prepare.md).

Why: the loader decodes every frame of a video to show the model 2 frames per second of it, so a 30 fps
source costs 15 decoded frames per frame used. ``prepare videos`` re-encodes each video once, keeping
only the frames the loader samples (``<id>_2fps.mp4`` beside ``<id>.<ext>``), so training decodes those.
It is optional: without it the loader reads the originals and gets the same frames.
"""

from molmo2_data.prepare.job import PrepareReport, prepare_videos, select_videos
from molmo2_data.prepare.videos import VideoTask, prepare_video

__all__ = ["PrepareReport", "VideoTask", "prepare_video", "prepare_videos", "select_videos"]
