"""A stage's data source: mixture members opened lazily (per process), the sampler, the encoder.

``encode(e)`` turns global example index ``e`` into an encoded example — a pure function of
(seed, e), identical in any process, worker or rank. Datasets are re-opened in each worker process
instead of being pickled (a memory-mapped table would otherwise be copied into the pickle).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

from molmo2_data.datasets import get_dataset
from molmo2_data.datasets.base import Dataset, rng_for_index
from molmo2_data.errors import DatasetNotAvailableError
from molmo2_data.loading.encode import EncodedExample, EncodeFailure, ExampleEncoder, to_failure
from molmo2_data.loading.mixtures import Member, Mixture
from molmo2_data.loading.sampler import MixtureSampler


@dataclass(frozen=True)
class OpenedMember:
    member: Member
    length: int


class StageSource:
    def __init__(self, mixture: Mixture, encoder: ExampleEncoder, seed: int, split: str = "train",
                 root: str | os.PathLike | None = None):
        self.mixture = mixture
        self.encoder = encoder
        self.seed = seed
        self.split = split
        self.root = root
        self._datasets: dict[str, Dataset] = {}
        present, self.absent = [], []
        for m in mixture.members():
            try:
                ds = self._open(m)
            except DatasetNotAvailableError as e:
                self.absent.append((m.name, str(e)))
                continue
            if len(ds) == 0:
                self.absent.append((m.name, "no examples available locally"))
                continue
            present.append(OpenedMember(m, len(ds)))
        if not present:
            raise DatasetNotAvailableError(
                f"mixture {mixture.name!r}: none of its datasets is available locally under "
                f"{root or '$MOLMO_DATA_DIR'}; run `molmo2-data sample` (sample data) or `molmo2-data download`")
        if self.absent:
            warnings.warn(f"mixture {mixture.name!r}: {len(self.absent)} member(s) absent and renormalised away: "
                          + ", ".join(n for n, _ in self.absent), stacklevel=3)
        rates = mixture.rates({p.member.name: p.length for p in present})
        by_name = {p.member.name: p for p in present}
        self.members = [by_name[k] for k in rates]  # alphabetical, as the official vector
        self.rates = rates
        self.sampler = MixtureSampler([p.member.name for p in self.members], [p.length for p in self.members],
                                      [rates[p.member.name] for p in self.members], seed=seed)

    def _open(self, m: Member) -> Dataset:
        ds = self._datasets.get(m.name)
        if ds is None:
            ds = get_dataset(m.dataset, split=self.split, root=self.root, **dict(m.options))
            self._datasets[m.name] = ds
        return ds

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_datasets"] = {}  # re-open memory-mapped tables in the worker
        return state

    def draw(self, e: int) -> tuple[OpenedMember, int, int]:
        d, item, epoch = self.sampler.draws(e, e + 1)
        return self.members[int(d[0])], int(item[0]), int(epoch[0])

    def encode(self, e: int) -> EncodedExample | EncodeFailure:
        """Read and encode global example ``e``; any error about this one example (reading the row,
        decoding its media, tokenizing) becomes a counted skip via :func:`to_failure`."""
        member, item, epoch = self.draw(e)
        meta = {"index": e, "member": member.member.name, "item": item, "epoch": epoch}
        example = None
        try:
            ds = self._open(member.member)
            rng = rng_for_index(item, epoch)
            example = ds.example(item, rng)
            return self.encoder.encode_or_raise(example, rng, meta)
        except Exception as ex:  # noqa: BLE001 - a bad row must not kill a worker (MemoryError re-raised)
            return to_failure(ex, {"dataset": member.member.dataset, **meta}, example)

    def report(self) -> dict[str, Any]:
        from molmo2_data.loading.shares import catalog_absent, group_shares

        return {"mixture": self.mixture.name, "rates": {k: round(v, 6) for k, v in self.rates.items()},
                "lengths": {m.member.name: m.length for m in self.members}, "absent": dict(self.absent),
                "groups": group_shares(self.mixture, self.rates, dict(self.absent),
                                       {m.member.name: m.length for m in self.members}),
                "not_in_catalog": catalog_absent(self.mixture), "note": self.mixture.note}

