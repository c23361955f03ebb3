"""Download: tables from the Hugging Face Hub, media by URL (verified, resumable), availability reports.

Entry points: ``molmo2-data download`` (:mod:`molmo2_data.cli.download_cmd`), or from Python::

    from molmo2_data.download import DownloadOptions, download, resolve_targets
    download(resolve_targets("pretraining", None, include_eval=False), DownloadOptions(root=...))
"""

from molmo2_data.download.fetch import FetchOptions, FetchStats, MediaItem, fetch_media
from molmo2_data.download.hub import fetch_tables
from molmo2_data.download.plan import STAGES, Report, Target, check, media_items, resolve_targets
from molmo2_data.download.runner import DownloadOptions, download
from molmo2_data.download.urlmap import UrlMap
from molmo2_data.download.waiting import WaitStatus

__all__ = ["STAGES", "DownloadOptions", "FetchOptions", "FetchStats", "MediaItem", "Report", "Target", "UrlMap", "WaitStatus",
           "check", "download", "fetch_media", "fetch_tables", "media_items", "resolve_targets"]
