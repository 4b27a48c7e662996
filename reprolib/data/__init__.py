"""Datasets by name, as whole tensors with a recorded source (which copy, exact or not).

``load_dataset("mnist")`` looks in ``root``, ``$REPROLIB_DATA``, known offline places and earlier
downloads, then downloads with torchvision; see ``DATASET_NAMES`` and ``dataset_info`` for what exists.
"""

from reprolib.data.dataset import Dataset
from reprolib.data.errors import DatasetCorruptError, DatasetNotFoundError
from reprolib.data.load import available_sources, load_dataset, load_image_folder
from reprolib.data.registry import DATASET_NAMES, DatasetInfo, check_ipcs, dataset_info
from reprolib.data.sources import DataSource

__all__ = [
    "DATASET_NAMES", "DataSource", "Dataset", "DatasetCorruptError", "DatasetInfo", "DatasetNotFoundError",
    "available_sources", "check_ipcs", "dataset_info", "load_dataset", "load_image_folder",
]
