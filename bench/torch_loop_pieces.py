"""Why one PyTorch loop is slower than another: the pieces that differ, timed per step.

    python bench/torch_loop_pieces.py          # workload (a): 128 rows of a 20,000 x 784 float32 set

For 1 and 2 torch threads, in one process: a mini-batch gathered with advanced indexing
(X[idx]) against index_select, the loss read with .item() every step against summed as a
tensor, and zero_grad with set_to_none True/False on the [256, 256] MLP.  Wall-clock and
CPU time, median of 400 calls each.  (torch is needed; nnlab is not.)
"""

from __future__ import annotations

import statistics
import time


def main() -> None:
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(20000, 784, generator=g), torch.randint(0, 10, (20000,), generator=g)
    perm = torch.randperm(len(X), generator=g)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    loss = nn.CrossEntropyLoss()(model(X[:128]), Y[:128])
    loss.backward()
    opt = torch.optim.Adam(model.parameters())
    total = torch.zeros(())

    def advanced(i):
        idx = perm[(i % 150) * 128:(i % 150) * 128 + 128]
        return X[idx], Y[idx]

    def index_select(i):
        idx = perm[(i % 150) * 128:(i % 150) * 128 + 128]
        return X.index_select(0, idx), Y.index_select(0, idx)

    def item(i):
        return loss.item() * 128

    def tensor_sum(i):
        nonlocal total
        total += loss.detach() * 128

    def zero_none(i):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt.zero_grad(set_to_none=True)

    def zero_fill(i):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt.zero_grad(set_to_none=False)

    pieces = [("batch: X[idx]", advanced), ("batch: index_select", index_select),
              ("loss: .item() per step", item), ("loss: summed as a tensor", tensor_sum),
              ("zero_grad(set_to_none=True)*", zero_none), ("zero_grad(set_to_none=False)*", zero_fill)]
    print(f"{'piece (per step)':<32}{'threads':>8}{'wall us':>10}{'CPU us':>10}")
    print("-" * 60)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, f in pieces:
            wall, cpu = [], []
            for i in range(400):
                c0, t0 = time.process_time(), time.perf_counter()
                f(i)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            print(f"{name:<32}{threads:>8}{1e6 * statistics.median(wall):10.1f}{1e6 * statistics.median(cpu):10.1f}")
    print("* both include re-creating the gradients (zeros_like for each of the 6 tensors) first")


if __name__ == "__main__":
    main()
