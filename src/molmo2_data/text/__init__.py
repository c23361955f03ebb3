"""Text side of Molmo2 preprocessing: tokenizer, formatter, tokenization and output parsing.

See docs/text.md for the format choices and the official quirks reproduced.
"""

from molmo2_data.text.formatter import FormatContext, FormatterConfig, Turn, format_annotation, format_turns
from molmo2_data.text.parse import (
    parse_choice,
    parse_clock,
    parse_count,
    parse_point_tags,
    parse_points,
    parse_timestamp,
    parse_tracks,
    parse_video_points,
)
from molmo2_data.text.tokenize import (
    InferencePrompt,
    LossWeight,
    TokenizeConfig,
    TokenizedExample,
    tokenize_example,
    tokenize_prompt,
)
from molmo2_data.text.tokenizer import EXTRA_TOKENS, Molmo2Tokenizer, load_tokenizer

__all__ = [
    "EXTRA_TOKENS", "FormatContext", "FormatterConfig", "InferencePrompt", "LossWeight", "Molmo2Tokenizer", "TokenizeConfig",
    "TokenizedExample", "Turn", "format_annotation", "format_turns", "load_tokenizer", "parse_choice",
    "parse_clock", "parse_count", "parse_point_tags", "parse_points", "parse_timestamp", "parse_tracks",
    "parse_video_points", "tokenize_example", "tokenize_prompt",
]
