"""``molmo2-data loader``: run a stage's dataloader and show what it produces, and how fast."""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

from molmo2_data.cli.argtypes import existing_file, nonnegative_int, positive_int
from molmo2_data.errors import ConfigError

TOP_REASONS = 10


def add_parser(sub: argparse._SubParsersAction) -> None:
    from molmo2_data.loading.mixtures import STAGES

    p = sub.add_parser(
        "loader",
        help="run a training stage's dataloader (mix, format, tokenize, preprocess, pack, collate)",
        description="Build get_dataloader(stage) over the local data (sample data by default) and pull "
                    "batches from it, printing shapes, packing efficiency and throughput. "
                    f"Stages: {', '.join(STAGES)}.",
    )
    p.add_argument("--stage", default="pretraining", choices=list(STAGES))
    p.add_argument("--batch-size", type=batch_size_arg, default=2,
                   help="packed sequences per step and rank (default 2), or 'stage': the stage's global batch "
                        "(256 pretraining / 128 SFT) divided by --world-size")
    p.add_argument("--batch-format", choices=["default", "molmo2"], default="default",
                   help="'molmo2': the official Molmo2 trainer's batch (loss_masks, per-row tensors only, "
                        "float32 normalised images for pretraining stages); see docs/integrations/official-trainer.md")
    p.add_argument("--steps", type=positive_int, default=5, help="batches to pull (default 5)")
    p.add_argument("--examples", type=positive_int, default=None, metavar="N",
                   help="pull batches until N examples have been packed (overrides --steps): the achieved "
                        "share of every group and dataset over N examples is printed at the end")
    p.add_argument("--num-workers", type=nonnegative_int, default=0, help="DataLoader worker processes (default 0)")
    p.add_argument("--sequence-length", type=positive_int, default=None,
                   help="override the stage's sequence length")
    p.add_argument("--max-frames", type=positive_int, default=None, help="override the stage's frames per video")
    p.add_argument("--mixture", type=existing_file, default=None,
                   help="custom mixture YAML/JSON file instead of the stage's")
    p.add_argument("--seed", type=nonnegative_int, default=None, help="data seed (default: the stage's)")
    p.add_argument("--rank", type=nonnegative_int, default=0, help="this rank (0 <= rank < world size)")
    p.add_argument("--world-size", type=positive_int, default=1)
    p.add_argument("--root", default=None, help="data root (default: $MOLMO_DATA_DIR or ~/.cache/molmo2-data)")
    p.add_argument("--tokenizer", default="qwen3", help="tokenizer (default: the offline Qwen3)")
    p.add_argument("--framework", choices=["torch", "numpy"], default="torch")
    p.add_argument("--json", action="store_true", help="one JSON line per batch")
    p.add_argument("--html", default=None, metavar="FILE",
                   help="write a preview page of the first batch: media with points/tracks drawn, video "
                        "frames with timestamps, tokens with loss spans highlighted")
    p.add_argument("--skips-jsonl", default=None, metavar="FILE",
                   help="write every skipped example as one JSON line (index, member, dataset, rows, media, "
                        "error type, message)")
    p.set_defaults(run=run)


def batch_size_arg(text: str) -> int | str:
    """A positive number of sequences, or 'stage' (the stage's global batch over the world size)."""
    if text == "stage":
        return "stage"
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'stage', got {text!r}") from None


def _data_root_note(args: argparse.Namespace) -> str:
    """Use downloaded data when present, else the embedded sample data (written on first use)."""
    from molmo2_data.paths import data_root
    from molmo2_data.sample import write_sample

    root = data_root(args.root)
    tables = root / "tables"
    if not tables.is_dir() or not any(tables.iterdir()):
        print(f"no local data under {root}: writing the embedded sample data there first")
        write_sample(root, progress=True)
    if (root / "SAMPLE_DATA").exists():
        return f"using the embedded sample data in {root} (run `molmo2-data download` for real data)"
    return f"using downloaded data in {root}"


def run(args: argparse.Namespace) -> int:
    from molmo2_data.loading.loader import get_dataloader
    from molmo2_data.text.tokenizer import load_tokenizer

    if args.rank >= args.world_size:
        raise ConfigError(f"--rank must be < --world-size, got --rank {args.rank} with --world-size {args.world_size}")
    if args.skips_jsonl is not None and not Path(args.skips_jsonl).expanduser().resolve().parent.is_dir():
        raise ConfigError(f"--skips-jsonl {args.skips_jsonl}: its folder does not exist")
    note = _data_root_note(args)
    t0 = time.perf_counter()
    tok = load_tokenizer(args.tokenizer)
    with warnings.catch_warnings():  # absent members are printed below
        warnings.simplefilter("ignore", UserWarning)
        dl = get_dataloader(args.stage, batch_size=args.batch_size, num_workers=args.num_workers, seed=args.seed,
                            rank=args.rank, world_size=args.world_size, tokenizer=tok,
                            sequence_length=args.sequence_length, root=args.root, mixture=args.mixture,
                            max_frames=args.max_frames, framework=args.framework,
                            batch_format=args.batch_format)
    records: list[dict[str, Any]] = []
    dl.on_skip = records.append
    with dl:  # stops the batch thread and the workers however the run ends
        return _pull(args, dl, tok, note, time.perf_counter() - t0, records)


def _pull(args: argparse.Namespace, dl: Any, tok: Any, note: str, t_setup: float,
          records: list[dict[str, Any]]) -> int:
    from tqdm import tqdm

    from molmo2_data.loading.molmo2_batch import default_view
    from molmo2_data.loading.preview import achieved_mix, describe_row, packing_fill

    report = dl.report
    print(note)
    if args.batch_size == "stage":
        from molmo2_data.loading.loader import stage_config

        print(f"batch: {dl.sequences_per_batch} sequences per rank (stage global batch "
              f"{stage_config(args.stage).global_batch_size} / world size {args.world_size})")
    print(f"stage {args.stage}: mixture {report['mixture']}, {len(report['rates'])} datasets "
          f"(absent: {', '.join(report['absent']) or 'none'})")
    if report.get("note"):
        print(f"  note: {report['note']}")
    if len(report.get("groups", [])) > 1 or report.get("absent"):
        from molmo2_data.loading.shares import format_shares

        for line in format_shares(report.get("groups", []), report.get("not_in_catalog", [])):
            print("  " + line)
    examples = tokens = 0
    fills, metas, first = [], [], None
    t1 = time.perf_counter()
    it = iter(dl)
    bar = tqdm(total=args.examples or args.steps, desc="examples" if args.examples else "batches",
               unit="example" if args.examples else "batch", disable=args.json)
    step = 0
    while (examples < args.examples) if args.examples else (step < args.steps):
        batch = next(it)
        if first is None:
            shapes = {k: list(v.shape) for k, v in batch.items() if hasattr(v, "shape")}
            first = default_view({k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in batch.items()})
        ids = batch["input_ids"]
        ids = ids.numpy() if hasattr(ids, "numpy") else ids
        real = int((ids >= 0).sum())
        n_docs = sum(len(row) for row in batch["metadata"])
        examples += n_docs
        tokens += real
        fills.append(packing_fill({"input_ids": ids}))
        metas.append(batch["metadata"])
        if args.json:
            shapes = {k: list(v.shape) for k, v in batch.items() if hasattr(v, "shape")}
            print(json.dumps({"step": step, "shapes": shapes, "examples": n_docs, "real_tokens": real,
                              "fill": fills[-1], "datasets": sorted({m["member"] for r in batch["metadata"] for m in r})}))
        step += 1
        bar.update(n_docs if args.examples else 1)
    bar.close()
    dt = time.perf_counter() - t1
    print(f"batch tensors: {shapes}")
    print(f"{step} batches, {examples} examples, {tokens:,} tokens in {dt:.1f} s: "
          f"{examples / dt:.1f} examples/s, {tokens / dt:,.0f} tokens/s (setup {t_setup:.1f} s); "
          f"packing fill {sum(fills) / len(fills):.1%}")
    report = dl.report
    print_skips(report)
    if args.skips_jsonl:
        written = write_skips_jsonl(args.skips_jsonl, records, dl.state_dict())
        print(f"wrote {written} skip record(s) to {args.skips_jsonl}")
    print(f"{'dataset':<42}{'target':>8}{'achieved':>10}{'examples':>10}")
    achieved = {name: (rate, share, n) for name, rate, share, n in achieved_mix(metas, report["rates"])}
    for name, (rate, share, n) in achieved.items():
        print(f"{name:<42}{rate:>8.1%}{share:>10.1%}{n:>10}")
    if len(report.get("groups", [])) > 1:
        print(f"{'group':<42}{'official':>8}{'achieved':>10}{'examples':>10}")
        for g in report["groups"]:
            n = sum(achieved[m][2] for m in g["present"] if m in achieved)
            share = sum(achieved[m][1] for m in g["present"] if m in achieved)
            print(f"{g['group']:<42}{g['official']:>8.1%}{share:>10.1%}{n:>10}")
    if args.html:
        from molmo2_data.loading.preview import write_batch_preview

        write_batch_preview(first, dl._core.source, tok, args.html)
        print(f"wrote batch preview {args.html}")
    print("\nfirst sequence of the first batch (⟦…⟧ = tokens the model learns to predict):")
    print(describe_row(first, 0, tok, max_chars=2500))
    return 0


def print_skips(report: dict[str, Any], top: int = TOP_REASONS) -> None:
    """Skipped examples: totals per member and type, then the top reasons with example paths/rows;
    then annotations the readers dropped as invalid, per member and reason."""
    from molmo2_data.loading.skips import SkipLog

    log = SkipLog.from_state({"reasons": report.get("skips", {}), "dropped": report.get("dropped", {})})
    counts = report.get("skipped") or {}
    print(f"skipped: {sum(counts.values())} example(s) {counts or ''}".rstrip())
    for member, reason, n, examples in log.top(top):
        where = "; ".join(_where(x) for x in examples)
        print(f"  {n:>6}  {member}: {reason}")
        if where:
            print(f"          e.g. {where}")
    dropped = report.get("dropped") or {}
    if dropped:
        print("dropped annotations (invalid values, left out of their examples):")
        for member, reasons in dropped.items():
            print(f"  {member}: {sum(reasons.values())} ({', '.join(f'{r}: {n}' for r, n in reasons.items())})")


def _where(x: dict[str, Any]) -> str:
    media = ", ".join(x.get("media") or [])
    rows = x.get("rows") or []
    return f"#{x.get('index')} " + (media or (f"rows {rows}" if rows else f"{x.get('dataset')}"))


def write_skips_jsonl(path: str, records: list[dict[str, Any]], state: dict[str, Any]) -> int:
    """Every skip counted in ``state`` (indices the consumed batches passed), one JSON line each."""
    seen: dict[int, dict[str, Any]] = {}
    for r in records:
        if r.get("index") is not None and r["index"] < state["next"]:
            seen.setdefault(int(r["index"]), r)
    with open(Path(path).expanduser(), "w", encoding="utf-8") as f:
        for index in sorted(seen):
            f.write(json.dumps(seen[index], default=str) + "\n")
    return len(seen)
