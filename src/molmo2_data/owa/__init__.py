"""Desktop recordings (Open World Agents "OWAMcap": ``.mcap`` event log + ``.mkv`` screen video).

The four stages of the seed pipeline, each a Hugging Face ``DatasetDict`` on disk::

    build_event_dataset   (stage 1)  .mcap files      -> events  (file_path, topic, timestamp_ns, message_type, msg)
    build_binned_dataset  (stage 2)  events           -> bins    (file_path, bin_idx, timestamp_ns, state, actions)
    build_mllm_dataset    (stage 3)  bins             -> windows (instruction, encoded_events, image_refs, metadata)
    VLMDatasetBuilder     (stage 4)  windows          -> items with lazily decoded frames

plus :func:`mllm_row_to_example` / :class:`OwaMllmDataset`, which turn windows into the common
:class:`~molmo2_data.example.Example` so desktop data can be mixed with image and video data.
See docs/owa.md.
"""

from molmo2_data.owa.binning import build_binned_dataset
from molmo2_data.owa.encoder import EventEncoder, EventFormatError
from molmo2_data.owa.events import build_event_dataset, parse_rates, split_files
from molmo2_data.owa.media_report import OwaMediaWarning
from molmo2_data.owa.reader import (
    Event,
    Recording,
    RecordingError,
    ScreenRef,
    message_kind,
    parse_screen,
    read_recording,
    resolve_media_path,
)
from molmo2_data.owa.sequences import build_mllm_dataset, window_bounds

__all__ = [
    "Event", "EventEncoder", "EventFormatError", "OwaMediaWarning", "Recording", "RecordingError", "ScreenRef",
    "VLMDatasetBuilder", "OwaMllmDataset", "build_binned_dataset", "build_event_dataset", "build_mllm_dataset",
    "message_kind", "mllm_row_to_example", "parse_rates", "parse_screen", "read_recording",
    "register_owa_dataset", "resolve_media_path", "split_files", "window_bounds",
]


def __getattr__(name: str):
    # Stage 4 and the adapter import torch lazily (only when asked for).
    if name == "VLMDatasetBuilder":
        from molmo2_data.owa.vlm import VLMDatasetBuilder

        return VLMDatasetBuilder
    if name in ("OwaMllmDataset", "mllm_row_to_example", "register_owa_dataset"):
        from molmo2_data.owa import adapter

        return getattr(adapter, name)
    raise AttributeError(name)
