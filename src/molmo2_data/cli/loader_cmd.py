"""``molmo2-data loader``: run a stage's dataloader and show what it produces, and how fast."""

from __future__ import annotations

import argparse
import json
import time


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
    p.add_argument("--batch-size", type=int, default=2, help="packed sequences per step (default 2)")
    p.add_argument("--steps", type=int, default=5, help="batches to pull (default 5)")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    p.add_argument("--sequence-length", type=int, default=None, help="override the stage's sequence length")
    p.add_argument("--max-frames", type=int, default=None, help="override the stage's frames per video")
    p.add_argument("--mixture", default=None, help="custom mixture YAML/JSON file instead of the stage's")
    p.add_argument("--seed", type=int, default=None, help="data seed (default: the stage's)")
    p.add_argument("--rank", type=int, default=0)
    p.add_argument("--world-size", type=int, default=1)
    p.add_argument("--root", default=None, help="data root (default: $MOLMO_DATA_DIR or ~/.cache/molmo2-data)")
    p.add_argument("--tokenizer", default="qwen3", help="tokenizer (default: the offline Qwen3)")
    p.add_argument("--framework", choices=["torch", "numpy"], default="torch")
    p.add_argument("--json", action="store_true", help="one JSON line per batch")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from molmo2_data.loading.loader import get_dataloader

    t0 = time.perf_counter()
    dl = get_dataloader(args.stage, batch_size=args.batch_size, num_workers=args.num_workers, seed=args.seed,
                        rank=args.rank, world_size=args.world_size, tokenizer=args.tokenizer,
                        sequence_length=args.sequence_length, root=args.root, mixture=args.mixture,
                        max_frames=args.max_frames, framework=args.framework)
    report = dl.report
    print(f"stage {args.stage}: mixture {report['mixture']}, "
          f"{len(report['rates'])} datasets (absent: {', '.join(report['absent']) or 'none'})")
    for name, rate in report["rates"].items():
        print(f"  {name:<40} rate {rate:.4f}  examples {report['lengths'][name]:,}")
    if report.get("note"):
        print(f"  note: {report['note']}")
    t_setup = time.perf_counter() - t0
    examples = tokens = 0
    t1 = time.perf_counter()
    it = iter(dl)
    for step in range(args.steps):
        batch = next(it)
        ids = batch["input_ids"]
        ids = ids.numpy() if hasattr(ids, "numpy") else ids
        real = int((ids >= 0).sum())
        n_docs = sum(len(row) for row in batch["metadata"])
        examples += n_docs
        tokens += real
        shapes = {k: list(v.shape) for k, v in batch.items() if hasattr(v, "shape")}
        datasets = sorted({m["member"] for row in batch["metadata"] for m in row})
        if args.json:
            print(json.dumps({"step": step, "shapes": shapes, "examples": n_docs, "real_tokens": real,
                              "fill": real / ids.size, "datasets": datasets}))
        else:
            print(f"batch {step}: {n_docs} examples packed, {real:,}/{ids.size:,} tokens "
                  f"({real / ids.size:.0%} full), images {shapes.get('images', '-')}, from {', '.join(datasets)}")
    dt = time.perf_counter() - t1
    print(f"{args.steps} batches, {examples} examples, {tokens:,} tokens in {dt:.1f} s "
          f"({examples / dt:.1f} examples/s, {tokens / dt:,.0f} tokens/s; setup {t_setup:.1f} s); "
          f"skipped: {dl.report['skipped'] or 'none'}")
    return 0
