"""Multi-process start-up: the first rank of a machine downloads and tokenises first, the others then read
its Arrow cache instead of tokenising the whole training set again (2 gloo processes on CPU)."""
import json
import os
import socket
import time

import pytest

import torch.distributed as dist
import torch.multiprocessing as mp

from xlr.sources import fixture_dir
from xlr.tasks import get_task, read_tsv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, tmp: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from datasets import Dataset

    from xlr.machine import distributed
    from xlr.engine import models

    pairs = read_tsv(fixture_dir() / "train-en.tsv", get_task("pawsx"))
    tokenizer = models.build_tiny_tokenizer(pairs.sentence1 + pairs.sentence2)
    computed = []
    original_map = Dataset.map

    def counting_map(self, function, *args, **kwargs):  # called only where the cache is not used
        def wrapped(batch):
            computed.append(len(batch["sentence1"]))
            return function(batch)
        return original_map(self, wrapped, *args, **kwargs)

    Dataset.map = counting_map
    with distributed.main_process_first():
        entered = time.time()
        if rank == 0:
            time.sleep(1.0)
        ds = models.encode(tokenizer, pairs, 64, cache_dir=os.path.join(tmp, "tokenized"))
        left = time.time()
    dist.barrier()
    with open(os.path.join(tmp, f"rank{rank}.json"), "w") as f:
        json.dump({"entered": entered, "left": left, "tokenised": sum(computed), "rows": len(ds),
                   "first": ds[0]["input_ids"]}, f)
    dist.destroy_process_group()


@pytest.mark.slow
def test_first_rank_tokenises_once_and_the_others_read_its_cache(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r1["entered"] >= r0["left"] - 0.05, (r0, r1)        # rank 1 waited for rank 0
    assert r0["tokenised"] == 400 and r1["tokenised"] == 0     # rank 1 read the Arrow file
    assert r0["rows"] == r1["rows"] == 400 and r0["first"] == r1["first"]
    assert len(list((tmp_path / "tokenized").glob("tokenized-*.arrow"))) == 1
