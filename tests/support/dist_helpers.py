"""Run a test body in N gloo processes on CPU (torch.multiprocessing spawn)."""
import datetime
import os
import sys
import traceback

import torch.distributed as dist
import torch.multiprocessing as mp


def _entry(rank, fn, world, init_file, args):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=90))  # a hung collective fails the test
    try:
        fn(rank, *args)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    # exit without tearing down: freeing a DDP reducer's gloo group at interpreter exit can deadlock on the
    # GIL (the group's destructor joins its run-loop thread, which waits for the GIL to free finished work)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def spawn_gloo(fn, world: int, tmp_path, *args):
    """``fn(rank, *args)`` in ``world`` processes joined in one gloo group; any failure fails the caller."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_entry, args=(fn, world, str(tmp_path / "gloo-init"), args), nprocs=world, join=True)
