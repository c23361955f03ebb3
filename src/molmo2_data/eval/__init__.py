"""Evaluation: metrics for every task, a predictions-file runner, and HTML galleries."""

from molmo2_data.eval.gallery import write_gallery, write_report_html
from molmo2_data.eval.runner import evaluate, format_table, report_json

__all__ = ["evaluate", "format_table", "report_json", "write_gallery", "write_report_html"]
