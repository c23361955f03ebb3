"""molmo2-data: the data system for training Molmo2-style vision-language models."""

from molmo2_data.datasets import (
    Dataset,
    DatasetBase,
    HfDataset,
    get_dataset,
    list_datasets,
    register_dataset,
)
from molmo2_data.example import Example

__version__ = "0.1.0"
__all__ = ["Dataset", "DatasetBase", "Example", "HfDataset", "get_dataset", "list_datasets", "register_dataset"]
