"""The headline metric of each official question style: the benchmark's own metric (VQA score over
the annotator answers, ANLS for documents and scene text, relaxed accuracy for ChartQA, exact match
elsewhere). Multiple-choice annotations are scored by accuracy whatever their style."""

from __future__ import annotations

VQA_SCORE = "vqa"
ANLS = "anls"
RELAXED = "relaxed"
EXACT = "exact"
A_OKVQA = "a_okvqa"  # min(1, matches / 3) over the 10 direct answers, lower-cased only (the A-OKVQA script)

STYLE_METRIC: dict[str, str] = {
    # VQA v2 accuracy over the 10 annotator answers
    "vqa2": VQA_SCORE, "text_vqa": VQA_SCORE, "okvqa": VQA_SCORE, "mantis_instruct_da": VQA_SCORE,
    "a_okvqa_da": A_OKVQA,
    # Average normalised Levenshtein similarity
    "doc_qa": ANLS, "info_qa": ANLS, "st_qa": ANLS,
    # ChartQA relaxed accuracy (5 % numeric tolerance)
    "chart_qa": RELAXED,
    # exact match of the short answer
    "tally_qa": EXACT, "tabwmp_da": EXACT, "dv_qa": EXACT, "figure_qa": EXACT, "plot_qa": EXACT,
    # academic video sets: one reference answer (open-ended video QA is scored by a model judge in the
    # papers; exact match of the normalised answer is the offline stand-in), action labels, moments
    "video_short_answer": EXACT, "activitynet_label": EXACT, "coin_label": EXACT, "kinetics_label": EXACT,
    "moments_in_time_label": EXACT, "youcook2_label": EXACT, "epic_kitchens_label": EXACT, "charades_sta": EXACT,
}


def primary_metric(style: str) -> str:
    """The metric for ``style``; styles not in the table fall back to a heuristic (charts and plots:
    relaxed accuracy; documents and text reading, CoSyn: ANLS; otherwise the VQA score)."""
    if style in STYLE_METRIC:
        return STYLE_METRIC[style]
    base = style[:-len("_exp")] if style.endswith("_exp") else style
    if base in STYLE_METRIC:
        return STYLE_METRIC[base]
    if "chart" in style or "plot" in style:
        return RELAXED
    if style.startswith(("pixmo_docs", "doc", "info", "cosyn")) or "ocr" in style or "text" in style:
        return ANLS
    return VQA_SCORE


MMMU = "mmmu"
# Sets scored by their own benchmark's rule whatever the question style (MMMU open questions use the
# VQA style ``vqa2`` in training but the MMMU answer-extraction rule in evaluation).
DATASET_METRIC: dict[str, str] = {"mmmu": MMMU}
