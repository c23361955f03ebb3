"""The PixMo readers under the module name the seed documents import from
(``olmo.data.pixmo_datasets`` -> ``molmo2_data.datasets.pixmo_datasets``)."""

from molmo2_data.datasets.pixmo import PixMoAskModelAnything, PixMoCap, PixMoCapQa, PixMoClocks, PixMoDocs
from molmo2_data.datasets.pixmo_points import CoSynPoint, PixMoCount, PixMoPoints, PixMoPointsEval

__all__ = ["CoSynPoint", "PixMoAskModelAnything", "PixMoCap", "PixMoCapQa", "PixMoClocks", "PixMoCount",
           "PixMoDocs", "PixMoPoints", "PixMoPointsEval"]
