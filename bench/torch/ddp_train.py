"""PyTorch DistributedDataParallel (gloo) on the models bench/train.ts calls torch-mlp and torch-cnn, for --compare-torch.

--model mlp: the 784-512-256-10 ReLU MLP on random MNIST-shaped inputs; --model cnn: a CIFAR-style CNN (3x3
convolutions of 16 and 32 channels, each with ReLU and 2x2 max pooling, then a dense layer to 10) on random
32x32x3 inputs. Softmax cross-entropy, SGD lr 0.01, a batch per rank.
Started by torchrun, or (what bench/train.ts does) with --nproc N, which starts N ranks of itself on this host.
After --warmup steps, --steps steps are timed between barriers, and
rank 0 prints one CSV row in bench/train.ts's format:
    torch-ddp-gloo,np,threads,blas,batch_per_rank,steps,samples_per_s,step_ms,oversubscribed,params
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time

import torch
import torch.distributed as dist
from torch import nn


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--nproc", type=int, default=0, help="start this many ranks on this host (instead of torchrun)")
    a = p.parse_args()
    if a.nproc > 0 and "RANK" not in os.environ:
        sys.exit(launch(a.nproc))
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo")
    rank, size = dist.get_rank(), dist.get_world_size()

    torch.manual_seed(0)
    if a.model == "mlp":
        net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
        shape = (784,)
    else:
        net = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 8 * 8, 10),
        )
        shape = (3, 32, 32)
    params = sum(p.numel() for p in net.parameters())
    model = nn.parallel.DistributedDataParallel(net)
    sgd = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_of = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(100 + rank)
    batches = [(torch.rand(a.batch, *shape, generator=gen), torch.randint(0, 10, (a.batch,), generator=gen)) for _ in range(8)]

    def one_step(i: int) -> None:
        x, y = batches[i % len(batches)]
        sgd.zero_grad(set_to_none=True)
        loss_of(model(x), y).backward()
        sgd.step()

    for i in range(a.warmup):
        one_step(i)
    dist.barrier()
    start = time.perf_counter()
    for i in range(a.steps):
        one_step(i)
    dist.barrier()
    took = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
    dist.all_reduce(took, op=dist.ReduceOp.MAX)  # the slowest rank sets the pace
    if rank == 0:
        secs = took.item()
        blas = "openblas" if "openblas" in open("/proc/self/maps").read() else "default"
        over = "yes" if size * a.threads > (os.cpu_count() or 1) else "no"
        print(f"torch-ddp-gloo,{size},{a.threads},{blas},{a.batch},{a.steps},{size * a.batch * a.steps / secs:.1f},{secs / a.steps * 1e3:.3f},{over},{params}", flush=True)
    # Not dist.destroy_process_group(): torch 1.13's gloo teardown hung now and then after the last all_reduce
    # (one rank gone, the other waiting forever), which is what stalled torchrun too. The all_reduce above was
    # the last exchange, so each rank just ends.
    sys.stdout.flush()
    os._exit(0)


def launch(n: int) -> int:
    """Starts n ranks of this script with torch's env:// variables; the first that fails ends the others."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for r in range(n):
        env = {**os.environ, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": str(n), "LOCAL_WORLD_SIZE": str(n),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        procs.append(subprocess.Popen([sys.executable, "-u", *sys.argv], env=env))

    def end_all(*_: object) -> None:
        for q in procs:
            if q.poll() is None:
                q.kill()
        sys.exit(1)

    signal.signal(signal.SIGTERM, end_all)
    while True:
        codes = [q.poll() for q in procs]
        bad = [(r, c) for r, c in enumerate(codes) if c not in (None, 0)]
        if bad:
            print(f"ddp_train.py: rank {bad[0][0]} exited with code {bad[0][1]}", file=sys.stderr)
            end_all()
        if all(c == 0 for c in codes):
            return 0
        time.sleep(0.05)


if __name__ == "__main__":
    main()
