"""One evaluation split over several jobs (``dataset.num_shards=N dataset.shard=K``), each on a
node of its own, and evaluated once every share is in.

Job ``K`` computes every ``N``-th image of the run's list, from the ``K``-th, and stores each
result in a feature store of its own, ``<cache.dir>/shards/<K>-of-<N>``: one writer per SQLite
file, so the folder may be on a network file system that every node mounts. The run with the
same settings and no ``dataset.shard`` is the merge: it reads every shard's store, refuses to
compute anything a shard left out, and evaluates. Its results come from the stores exactly as a
warm cache's do, so its pair scores equal the unsharded run's bit for bit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from bench.cache import CachedDetection, FeatureCache
from bench.config import DatasetConfig

T = TypeVar("T")


class ShardsIncompleteError(RuntimeError):
    """A merge found images that no shard has stored: those shards have not (all) run."""


@dataclass(frozen=True)
class Sharding:
    num_shards: int = 1
    #: This job's share; ``None``: the whole run (``num_shards == 1``) or the merge.
    shard: int | None = None

    @classmethod
    def of(cls, dataset: DatasetConfig) -> Sharding:
        return cls(dataset.num_shards, dataset.shard)

    @property
    def is_shard(self) -> bool:
        return self.shard is not None

    @property
    def is_merge(self) -> bool:
        return self.num_shards > 1 and self.shard is None

    def share(self, num_images: int) -> list[int]:
        """The images this job computes: its share, or all of them."""
        start, step = (self.shard, self.num_shards) if self.shard is not None else (0, 1)
        return list(range(start, num_images, step))

    def folder(self, cache_dir: Path, shard: int) -> Path:
        return cache_dir / "shards" / f"{shard}-of-{self.num_shards}"

    def open_store(self, cache_dir: Path) -> FeatureCache | ShardStores:
        """The feature store this job reads and writes: the cache, this shard's own store, or
        (the merge) every shard's store read as one; a shard that never ran is named."""
        if self.shard is not None:
            return FeatureCache(self.folder(cache_dir, self.shard))
        if not self.is_merge:
            return FeatureCache(cache_dir)
        folders = [self.folder(cache_dir, shard) for shard in range(self.num_shards)]
        absent = [shard for shard, folder in enumerate(folders) if not (folder / FeatureCache.FILE).is_file()]
        if absent:
            raise ShardsIncompleteError(
                f"dataset.num_shards={self.num_shards}: no store of shard(s) {_listed(absent)} in "
                f"{cache_dir / 'shards'}; run dataset.shard={absent[0]} (each of them) with the same "
                "settings and cache.dir before this merge"
            )
        return ShardStores([FeatureCache(folder) for folder in folders])

    def check_complete(self, missing: Sequence[int], num_images: int, cache_dir: Path) -> None:
        """A merge refuses to compute: ``missing`` (images no store holds) names the shards."""
        if not self.is_merge or not missing:
            return
        per_shard = Counter(index % self.num_shards for index in missing)
        lines = [
            f"shard {shard}: {count:,} of its {len(range(shard, num_images, self.num_shards)):,} images "
            f"have no results in {self.folder(cache_dir, shard)}"
            for shard, count in sorted(per_shard.items())
        ]
        raise ShardsIncompleteError(
            f"dataset.num_shards={self.num_shards}: not every shard is in, so nothing is evaluated:\n  "
            + "\n  ".join(lines)
            + f"\nrun dataset.shard={min(per_shard)} (each shard listed) again with the same settings; "
            "a shard that ran with other settings stored results this merge cannot use"
        )


class ShardStores:
    """The shards' feature stores read as one: a result is under its content's key in whichever
    store its shard wrote. A merge computes nothing, so it writes nothing."""

    def __init__(self, stores: Sequence[FeatureCache]) -> None:
        self.stores = list(stores)
        self.path = self.stores[0].path.parent.parent

    @property
    def corrupted(self) -> int:
        return sum(store.corrupted for store in self.stores)

    def get_detections(self, config: str, digests: Sequence[str]) -> dict[str, CachedDetection]:
        return self._found(FeatureCache.get_detections, config, digests)

    def get_embeddings(self, config: str, digests: Sequence[str]) -> dict[str, np.ndarray]:
        return self._found(FeatureCache.get_embeddings, config, digests)

    def _found(
        self,
        get: Callable[[FeatureCache, str, Sequence[str]], dict[str, T]],
        config: str,
        digests: Sequence[str],
    ) -> dict[str, T]:
        """Each digest's entry from the first store holding it; later stores are asked only for
        the rest."""
        found: dict[str, T] = {}
        for store in self.stores:
            found |= get(store, config, [digest for digest in digests if digest not in found])
        return found

    def put_detections(self, config: str, entries: Mapping[str, CachedDetection]) -> None:
        raise RuntimeError("a merge of shards computes nothing, so it stores nothing")

    def put_embeddings(self, config: str, entries: Mapping[str, np.ndarray]) -> None:
        raise RuntimeError("a merge of shards computes nothing, so it stores nothing")

    def close(self) -> None:
        for store in self.stores:
            store.close()


def _listed(shards: Sequence[int]) -> str:
    return ", ".join(map(str, shards))
