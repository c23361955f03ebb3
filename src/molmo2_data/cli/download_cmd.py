"""``molmo2-data download``: tables from the Hugging Face Hub, media by URL, verified and resumable."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from molmo2_data.cli.argtypes import nonnegative_float, positive_float, positive_int
from molmo2_data.errors import ConfigError

STAGE_CHOICES = ("pretraining", "sft", "long-context", "all")
EXIT_PARTIAL = 3  # the run finished, but some files or tables failed (0 with --allow-partial)
EXIT_STATUS = """\
Exit status:
  0  every file the selected datasets need and could get is verified on disk (videos to fetch by hand
     are listed, not failures)
  1  an error stopped a dataset (e.g. no access to its Hub repo, an unreadable parquet file or table,
     a worker process died); the other datasets were still done
  2  bad arguments (a bad flag value, an unknown dataset name, a --root that is a file)
  3  finished with failures: some URLs failed (permanently or for now) or a table is missing on the Hub;
     the summary lists every reason with its count and the manifest holding the URLs
     (--allow-partial: 0 instead)"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "download",
        help="download tables (Hugging Face Hub) and media (URLs), verified and resumable",
        description="Download the tables of a training stage from the Hugging Face Hub and the images their "
                    "URL columns name: concurrent, verified (sha256 where the table has a byte hash, decodable "
                    "image otherwise), resumable after any interruption. Permanent failures are recorded with "
                    "their reason in $root/manifests/<dataset>.jsonl and not retried unless --retry-failed. "
                    "Videos that need a manual download are listed with where to put them.",
        epilog="Examples:\n  molmo2-data download --stage pretraining\n"
               "  molmo2-data download --stage all --include-eval --workers 128\n"
               "  molmo2-data download --datasets pixmo-cap --shard 0/4     # machine 1 of 4\n"
               "  molmo2-data download --check --stage sft\n"
               "  molmo2-data download --stage all --engine ray --address 10.0.0.1:6379   # on a Ray cluster\n\n"
               + EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stage", choices=STAGE_CHOICES, default="all", help="training stage (default: all)")
    p.add_argument("--datasets", default=None, help="comma-separated dataset names (overrides --stage)")
    p.add_argument("--include-eval", action="store_true", help="also the eval sets (pixmo-points-eval, "
                   "pixmo-count validation/test)")
    p.add_argument("--root", default=None, help="data root (default: $MOLMO_DATA_DIR or ~/.cache/molmo2-data)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="list the selected datasets and exit")
    mode.add_argument("--check", action="store_true", help="report rows, media ok / missing / failed (with "
                      "reasons) and bytes on disk, without downloading")
    mode.add_argument("--dry-run", action="store_true", help="say what would be downloaded, from local state")
    p.add_argument("--workers", type=positive_int, default=64, help="requests in flight over all hosts (default 64)")
    p.add_argument("--per-host", type=positive_int, default=8, help="requests in flight per host (default 8)")
    p.add_argument("--procs", type=positive_int, default=min(4, os.cpu_count() or 1),
                   help="processes sharing the work (each one event loop; default min(4, CPUs)); "
                        "helps when the CPU rather than the network is the limit")
    p.add_argument("--retry-failed", action="store_true", help="retry URLs that failed permanently before")
    p.add_argument("--shard", type=shard_arg, default=None, metavar="I/N", help="fetch only shard I of N of each dataset's "
                   "media (disjoint, deterministic; manifests merge)")
    p.add_argument("--url-map", type=url_map_rule, action="append", default=[], metavar="PREFIX=REPLACEMENT",
                   help="fetch URLs starting with PREFIX from REPLACEMENT instead (mirrors; repeatable; also "
                        "$MOLMO2_URL_MAP). Files keep the cache key of the original URL.")
    p.add_argument("--skip-tables", action="store_true", help="use the local tables, do not contact the Hub")
    p.add_argument("--tables-only", action="store_true", help="download tables, no media")
    p.add_argument("--refresh-tables", action="store_true", help="rewrite local tables even if up to date")
    p.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit) of every dataset")
    p.add_argument("--timeout", type=positive_float, default=30.0,
                   help="seconds of silence before a read times out (default 30)")
    p.add_argument("--connect-timeout", type=positive_float, default=10.0, help="connect timeout in seconds")
    p.add_argument("--file-deadline", type=positive_float, default=600.0, metavar="SECONDS",
                   help="longest time one file may take, all its attempts and waits together; a server "
                        "trickling bytes cannot hold a URL longer (default 600; raise it for large videos)")
    p.add_argument("--max-retry-after", type=nonnegative_float, default=600.0, metavar="SECONDS",
                   help="longest Retry-After pause honoured; a host asking for more (or pausing longer since "
                        "its last success) is given up for this run, its URLs recorded to retry next run "
                        "(default 600)")
    p.add_argument("--attempts", type=positive_int, default=4, help="tries per URL per run (default 4)")
    p.add_argument("--backoff", type=positive_float, default=1.0, help="first retry delay in seconds, doubled per try")
    p.add_argument("--max-mb", type=positive_float, default=64.0, help="largest file accepted, in MB (default 64)")
    p.add_argument("--max-pixels", type=positive_int, default=None, help="largest image accepted, in pixels "
                   "(decompression-bomb guard; default 16384*16384)")
    p.add_argument("--allow-partial", action="store_true",
                   help="exit 0 when the run finished with failures (default: exit status 3)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="where media is fetched: 'local' (this machine, default) or 'ray' (tasks over a Ray "
                        "cluster: same manifests, verification and resume; one per-host limit for the whole "
                        "cluster; needs pip install 'molmo2-data[ray]' and the data root at the same path on "
                        "every node)")
    p.add_argument("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else a local "
                   "Ray started for the job)")
    p.add_argument("--task-size", type=positive_int, default=2000, metavar="N",
                   help="URLs per Ray task (default 2000): a lost worker's task is retried from what it left")
    p.add_argument("--json", action="store_true", help="print the final report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars; log lines only")
    p.set_defaults(run=run)



def shard_arg(text: str) -> tuple[int, int]:
    """``I/N`` with 0 <= I < N, as an argparse type (a bad value exits 2 with one line)."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be I/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"need 0 <= I < N, got {text!r}")
    return i, n


def url_map_rule(text: str) -> str:
    """``PREFIX=REPLACEMENT`` with a non-empty prefix."""
    from molmo2_data.download.urlmap import UrlMap

    try:
        UrlMap([text])
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must be I/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {text}: need 0 <= I < N")
    return i, n


def build_options(args: argparse.Namespace):
    from molmo2_data import paths
    from molmo2_data.download.fetch import FetchOptions
    from molmo2_data.download.runner import DownloadOptions
    from molmo2_data.download.urlmap import UrlMap
    from molmo2_data.download.verify import DEFAULT_MAX_PIXELS

    fetch = FetchOptions(workers=args.workers, per_host=args.per_host, procs=args.procs, read_timeout=args.timeout,
                         connect_timeout=args.connect_timeout, attempts=args.attempts,
                         file_deadline=args.file_deadline, max_retry_after=args.max_retry_after,
                         backoff_base=args.backoff, max_bytes=max(1, int(args.max_mb * 2**20)),
                         max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS, retry_failed=args.retry_failed,
                         url_map=UrlMap.from_env_and_args(args.url_map))
    shard = parse_shard(args.shard) if isinstance(args.shard, str) else args.shard
    return DownloadOptions(root=paths.data_root(args.root), fetch=fetch, shard=shard,
                           tables=not args.skip_tables, media=not args.tables_only,
                           refresh_tables=args.refresh_tables, revision=args.revision, dry_run=args.dry_run,
                           quiet=args.quiet, engine=args.engine, address=args.address, task_size=args.task_size)


def run(args: argparse.Namespace) -> int:
    from molmo2_data.download.plan import resolve_targets
    from molmo2_data.errors import UnknownDatasetError

    names = [n.strip() for n in args.datasets.split(",") if n.strip()] if args.datasets is not None else None
    if names == []:
        raise ConfigError(f"--datasets names no dataset: {args.datasets!r}")
    try:
        targets = resolve_targets(args.stage, names, args.include_eval)
    except UnknownDatasetError as e:  # a bad argument: exit status 2
        raise ConfigError(f"--datasets: {e}") from e
    opts = build_options(args)
    if opts.root.exists() and not opts.root.is_dir():
        raise ConfigError(f"--root {opts.root} is not a directory")
    console = _console()
    if args.list:
        return _list(targets, opts.root, console)
    if args.check:
        return _check(targets, opts, console, args.json)
    from molmo2_data.download.runner import download, has_failures

    def log(msg: str) -> None:
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    outcomes = download(targets, opts, log)
    if args.dry_run:
        _print_dry_run(outcomes, console)
        return 0
    reports = [o.report for o in outcomes if o.report is not None]
    if args.json:
        print(json.dumps([_report_json(r) for r in reports], indent=1))
    else:
        _print_reports(reports, console, f"download summary ({opts.root})", opts.root)
    if any(o.error for o in outcomes):
        return 1
    if has_failures(outcomes) and not args.allow_partial:
        print(f"finished with failures (exit status {EXIT_PARTIAL}; --allow-partial accepts a partial result); "
              "run again to retry what failed for now, add --retry-failed to retry permanent failures too",
              file=sys.stderr)
        return EXIT_PARTIAL
    return 0


def _console():
    from rich.console import Console

    console = Console(soft_wrap=False)
    return console if console.is_terminal else Console(soft_wrap=False, width=160)


def _list(targets, root: Path, console) -> int:
    from rich.table import Table

    from molmo2_data.download.plan import EVAL, STAGES

    table = Table(title="datasets")
    for col in ("dataset", "stages", "Hub repo", "configs", "splits", "media", "local tables"):
        table.add_column(col)
    for t in targets:
        stages = [s for s, names in STAGES.items() if t.name in names] + (["eval"] if t.name in EVAL else [])
        configs = list(t.cls.CONFIGS)
        table.add_row(t.name, ", ".join(stages) or "-", getattr(t.cls, "HF_PATH", "") or "-",
                      ", ".join(configs) if len(configs) <= 3 else f"{len(configs)} configs",
                      ", ".join(t.source_splits()), t.media,
                      f"{len(t.table_files(root))}/{len(t.tables())}")
    console.print(table)
    return 0


def _check(targets, opts, console, as_json: bool) -> int:
    from molmo2_data.download.manifest import load_records
    from molmo2_data.download.plan import check

    reports = [check(t, opts.root, load_records(opts.root, t.name), shard=opts.shard) for t in targets]
    if as_json:
        print(json.dumps([_report_json(r) for r in reports], indent=1))
    else:
        _print_reports(reports, console, f"local data ({opts.root})", opts.root)
    return 0


def _count(counter) -> str:
    return f"{sum(counter.values()):,}" if counter else "-"


def _reasons(counter) -> str:
    """Every reason with its count, most frequent first."""
    return ", ".join(f"{reason} × {n:,}" for reason, n in counter.most_common())


def _print_reports(reports, console, title: str, root: Path | None = None) -> None:
    from rich.table import Table

    from molmo2_data.download.manifest import manifest_files

    table = Table(title=title)
    for col in ("dataset", "rows", "media", "ok", "needed", "avail.", "failed (permanent)", "to retry", "MB",
                "status"):
        table.add_column(col, justify="left" if col in ("dataset", "media", "status") else "right")
    for r in reports:
        pct = f"{100.0 * r.ok / r.needed:.1f}%" if r.needed else "-"
        table.add_row(r.name, f"{r.rows:,}", r.media, f"{r.ok:,}" if r.needed else "-",
                      f"{r.needed:,}" if r.needed else "-", pct, _count(r.failed), _count(r.transient),
                      f"{r.bytes / 1e6:,.1f}", r.status)
    console.print(table)
    for r in reports:
        console.print(r.availability(), highlight=False)
        if r.failed:
            console.print(f"  failed (permanent; retried only with --retry-failed): {_reasons(r.failed)}",
                          highlight=False)
        if r.transient:
            console.print(f"  to retry (next run): {_reasons(r.transient)}", highlight=False)
        if (r.failed or r.transient) and root is not None:
            for m in manifest_files(root, r.name):
                console.print(f"  URLs and reasons: {m}", highlight=False)
        for note, n in r.notes.items():
            console.print(f"  {n:,} × {note}", highlight=False)
        if r.missing_list is not None:
            console.print(f"  what to fetch and where: {r.missing_list}", highlight=False)
        if r.status == "no table":
            console.print(f"  to get it: molmo2-data download --datasets {r.name}", highlight=False)


def _print_dry_run(outcomes, console) -> None:
    from rich.table import Table

    table = Table(title="dry run (nothing downloaded)")
    for col in ("dataset", "Hub repo", "tables local/wanted", "URLs", "present", "skip (failed)", "to fetch",
                "note"):
        table.add_column(col)
    for o in outcomes:
        p = o.plan
        note = o.error or ("tables needed first" if o.target.media == "url_image" and not p.get("tables_present")
                           else "")
        table.add_row(o.target.name, getattr(o.target.cls, "HF_PATH", "") or "-",
                      f"{p.get('tables_present', 0)}/{p.get('tables_wanted', 0)}",
                      *(f"{p[k]:,}" if k in p else "-" for k in ("urls", "present", "skip_failed", "to_fetch")), note)
    console.print(table)


def _report_json(r) -> dict:
    return {"dataset": r.name, "media": r.media, "rows": r.rows, "tables": r.tables, "needed": r.needed,
            "ok": r.ok, "missing": r.missing, "failed": dict(r.failed), "transient": dict(r.transient),
            "bytes": r.bytes, "status": r.status, "notes": dict(r.notes),
            "missing_list": str(r.missing_list) if r.missing_list else None, "availability": r.availability()}
