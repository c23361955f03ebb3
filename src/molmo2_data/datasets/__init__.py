"""Dataset readers: one class per published dataset, a registry, and custom datasets."""

from molmo2_data.datasets.base import Dataset, DatasetBase, HeldOut, HfDataset, TableDataset, rng_for_index
from molmo2_data.datasets.registry import (
    canonical_name,
    dataset_class,
    get_dataset,
    list_datasets,
    register_dataset,
)

# Importing the reader modules registers them.
from molmo2_data.datasets import pixmo, pixmo_points, multi_image, molmo2_video, molmo2_video_points, molmo2_video_eval, text, academic_image, academic_hub, academic_ai2, academic_rrc, academic_built, academic_tracking, academic_video_points, video_academic_hub, video_academic_qa, video_academic_labels  # noqa: E402,F401  isort: skip
from molmo2_data.datasets.custom import CustomDataset, CustomDatasetConfig, register_custom_dataset  # noqa: E402

__all__ = [
    "CustomDataset", "CustomDatasetConfig", "Dataset", "DatasetBase", "HeldOut", "HfDataset", "TableDataset", "canonical_name", "dataset_class",
    "get_dataset", "list_datasets", "register_custom_dataset", "register_dataset", "rng_for_index",
]
