#!/usr/bin/env python3
"""PyTorch CUDA eager reference for `scripts/device-check.sh`: the workloads of `mtl bench`
(part A of ../shared/bench/throughput.py, there on the CPU) and its MGDA / PCGrad step times
(part B), here on a GPU.

Part A  samples/s of hard sharing 100 -> 256 -> 256 with towers 64, the MMoE paper's shared
        bottom 100 -> 113 with towers 8, and its MMoE with 8 experts of 16 and towers 8; two
        regression tasks, EW, Adam (lr 1e-3), f32, 10,000 rows resident on the GPU, batches
        by a seeded permutation (full batches only), at each --batch.
Part B  ms per step of MGDA (Frank-Wolfe on the Gram matrix of the shared parameters'
        gradients, solved on the host as mtl does) and PCGrad (projections in a seeded random
        order) with T tasks, the 256-256 network, towers 64, batch 256.

A timed step = batch gather + forward + losses + backward (+ weighting) + Adam step; warm-up
steps first, then torch.cuda.synchronize() around the timed steps; the median of --repeats
runs (fresh model each) is reported. Same shapes and initialisation scheme as PyTorch's
defaults (nn.Linear), which is also what the CPU reference uses.
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class Tower(nn.Module):
    def __init__(self, d_in, hidden):
        super().__init__()
        self.body = mlp([d_in] + hidden)
        self.out = nn.Linear(hidden[-1] if hidden else d_in, 1)

    def forward(self, h):
        return self.out(self.body(h)).squeeze(-1)


class SharedBottom(nn.Module):
    def __init__(self, d_in, hidden, tower, tasks):
        super().__init__()
        self.shared = mlp([d_in] + hidden)
        self.towers = nn.ModuleList(Tower(hidden[-1], tower) for _ in range(tasks))

    def forward(self, x):
        h = self.shared(x)
        return [t(h) for t in self.towers]

    def shared_parameters(self):
        return list(self.shared.parameters())


class MMoE(nn.Module):
    def __init__(self, d_in, experts, d_expert, tower, tasks):
        super().__init__()
        self.experts = nn.ModuleList(mlp([d_in, d_expert]) for _ in range(experts))
        self.gates = nn.ModuleList(nn.Linear(d_in, experts) for _ in range(tasks))
        self.towers = nn.ModuleList(Tower(d_expert, tower) for _ in range(tasks))

    def forward(self, x):
        e = torch.stack([m(x) for m in self.experts], 1)  # [b, E, d]
        outs = []
        for g, t in zip(self.gates, self.towers):
            w = torch.softmax(g(x), 1).unsqueeze(1)  # [b, 1, E]
            outs.append(t((w @ e).squeeze(1)))
        return outs

    def shared_parameters(self):
        return list(self.experts.parameters())


def data(tasks, n, seed, device, d=100, m=10):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    w = rng.standard_normal((tasks, d))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    alpha, beta = rng.standard_normal(m), rng.standard_normal(m)
    z = x @ w.T
    y = z + np.sin(z[:, :, None] * alpha + beta).sum(-1) + 0.1 * rng.standard_normal((n, tasks))
    return (torch.tensor(x, dtype=torch.float32, device=device), torch.tensor(y, dtype=torch.float32, device=device))


def frank_wolfe(gram, iters=250, tol=1e-5):
    """Min-norm point of the convex hull of the gradients, from their Gram matrix (float64)."""
    t = gram.shape[0]
    a = np.full(t, 1.0 / t)
    for _ in range(iters):
        ga = gram @ a
        i = int(np.argmin(ga))
        v1, v2, v3 = a @ ga, a @ gram[:, i], gram[i, i]
        gamma = 1.0 if v2 >= v1 else (0.0 if v2 >= v3 else (v3 - v2) / (v1 + v3 - 2 * v2))
        new = (1 - gamma) * a
        new[i] += gamma
        if np.abs(new - a).sum() < tol:
            return new
        a = new
    return a


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(model, method, x, y, batch, warmup, steps, seed):
    tasks = y.shape[1]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    shared = model.shared_parameters() if method != "EW" else []
    order_gen = np.random.default_rng(seed)
    n = x.shape[0]

    def batches():
        while True:
            perm = torch.randperm(n, generator=gen, device=x.device)
            for k in range(0, n - batch + 1, batch):
                yield perm[k:k + batch]

    it = batches()

    def step():
        idx = next(it)
        xb, yb = x[idx], y[idx]
        preds = model(xb)
        losses = [F.mse_loss(preds[t], yb[:, t]) for t in range(tasks)]
        opt.zero_grad(set_to_none=True)
        if method == "EW":
            sum(losses).backward()
        else:
            rows = []
            for t, loss in enumerate(losses):
                g = torch.autograd.grad(loss, shared, retain_graph=True)
                rows.append(torch.cat([p.reshape(-1) for p in g]))
            G = torch.stack(rows)  # [T, P]
            if method == "MGDA":
                a = frank_wolfe((G.double() @ G.double().T).cpu().numpy())
                d = torch.tensor(a, dtype=G.dtype, device=G.device) @ G
            else:  # PCGrad
                P = G.clone()
                for i in range(tasks):
                    for j in order_gen.permutation(tasks):
                        if j == i:
                            continue
                        dot = P[i] @ G[j]
                        if dot < 0:
                            P[i] = P[i] - dot / (G[j] @ G[j]).clamp_min(1e-12) * G[j]
                d = P.sum(0)
            # Heads: each tower its own loss's gradient; shared part: the combined one.
            heads = [p for p in model.parameters() if all(p is not s for s in shared)]
            head_grads = torch.autograd.grad(sum(losses), heads)
            for p, g in zip(heads, head_grads):
                p.grad = g
            at = 0
            for p in shared:
                k = p.numel()
                p.grad = d[at:at + k].view_as(p)
                at += k
        opt.step()

    for _ in range(warmup):
        step()
    sync(x.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(x.device)
    return (time.perf_counter() - t0) / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", default="256,4096")
    ap.add_argument("--a-steps", type=int, default=200)
    ap.add_argument("--b-steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--out", default="torch_cuda.json")
    ap.add_argument("--device", default="cuda", help="cuda, or cpu for a smoke test")
    a = ap.parse_args()
    device = torch.device(a.device)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    res = {"torch": torch.__version__, "gpu": name, "A": [], "B": []}
    x, y = data(2, 10000, 0, device)
    workloads = [
        ("HPS 256-256 / towers 64", lambda: SharedBottom(100, [256, 256], [64], 2)),
        ("HPS 113 / towers 8 (MMoE paper)", lambda: SharedBottom(100, [113], [8], 2)),
        ("MMoE 8×16 / towers 8 (paper)", lambda: MMoE(100, 8, 16, [8], 2)),
    ]
    for batch in [int(b) for b in a.batch.split(",")]:
        for name, build in workloads:
            times = []
            for r in range(a.repeats):
                torch.manual_seed(r)
                times.append(time_steps(build().to(device), "EW", x, y, batch, a.warmup, a.a_steps, r))
            med = statistics.median(times)
            row = {"workload": name, "batch": batch, "step_ms": med * 1e3, "samples_per_s": batch / med,
                   "step_ms_runs": [t * 1e3 for t in times]}
            res["A"].append(row)
            print("A  %-34s batch %5d  %10.0f samples/s  %.3f ms/step" % (name, batch, batch / med, med * 1e3), flush=True)
    xb, yb = data(a.tasks, 10000, a.tasks, device)
    for method in ["MGDA", "PCGrad"]:
        times = []
        for r in range(a.repeats):
            torch.manual_seed(r)
            model = SharedBottom(100, [256, 256], [64], a.tasks).to(device)
            times.append(time_steps(model, method, xb, yb, 256, a.warmup, a.b_steps, r))
        med = statistics.median(times)
        res["B"].append({"method": method.lower(), "tasks": a.tasks, "step_ms": med * 1e3,
                         "step_ms_runs": [t * 1e3 for t in times]})
        print("B  %-7s T=%d  %.3f ms/step" % (method, a.tasks, med * 1e3), flush=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
