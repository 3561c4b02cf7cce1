#!/usr/bin/env python3
"""Data-parallel scaling model for mtl (issue 16): predicted efficiency of N ranks with ring
all-reduce, from a measured per-step compute time and the bytes each route reduces per step.

    python3 benches/scale_model.py --t0-ms 0.60 --per-sample-us 9.0 --params 124674 --tasks 2 \
        --repr-width 256

Model (no overlap of communication with computation, as mtl does today):
  compute(b)   = t0 + b * s              (b = samples per rank; t0, s fitted from measured steps)
  ring(M, N)   = 2 (N - 1) alpha + 2 (N - 1) / N * M / beta   (reduce-scatter + all-gather)
  efficiency   = compute(b) / (compute(b) + comm),  weak scaling at b samples per rank.
Bytes per step M (f32):
  losses route          P * 4                 (plus T floats: the losses, a latency term)
  parameter route       T * P * 4             (plus the heads' gradients, ≤ P * 4)
  representation route  (T^2 + T + P) * 4 with the Gram matrix reduced (every method but
                        GradDrop), or, for GradDrop, the [T, batch * d] matrix all-gathered,
                        T * B * d * 4 (each rank receives (N - 1)/N of it), plus P * 4.
Links: 10 Gbit/s (TCP, alpha = 25 us per hop) and 100 Gbit/s (RDMA, alpha = 3 us per hop).
"""
import argparse

LINKS = {"10 Gbit/s": (10e9 / 8, 25e-6), "100 Gbit/s": (100e9 / 8, 3e-6)}


def ring(m_bytes, n, beta, alpha, messages=1):
    if n == 1:
        return 0.0
    return messages * 2 * (n - 1) * alpha + 2 * (n - 1) / n * m_bytes / beta


def gather(m_bytes, n, beta, alpha):
    # Ring all-gather of m_bytes in total: (N - 1) hops, (N - 1)/N of the data through each link.
    return 0.0 if n == 1 else (n - 1) * alpha + (n - 1) / n * m_bytes / beta


def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--t0-ms", type=float, required=True, help="fixed step time (ms)")
    a.add_argument("--per-sample-us", type=float, required=True, help="step time per sample (µs)")
    a.add_argument("--params", type=int, required=True, help="P, parameters")
    a.add_argument("--shared", type=int, default=None, help="shared parameters (default P)")
    a.add_argument("--tasks", type=int, default=2)
    a.add_argument("--repr-width", type=int, default=256, help="d of the shared representation")
    a.add_argument("--ranks", default="8,64,512")
    a.add_argument("--batch", type=int, default=256, help="samples per rank for the table")
    args = a.parse_args()
    t0, s = args.t0_ms * 1e-3, args.per_sample_us * 1e-6
    p, t, d = args.params, args.tasks, args.repr_width
    shared = args.shared or p
    ranks = [int(x) for x in args.ranks.split(",")]

    def comm(route, n, b, beta, alpha):
        if route == "losses":
            return ring(4 * p, n, beta, alpha, messages=2)
        if route == "parameters":
            return ring(4 * t * shared, n, beta, alpha) + ring(4 * (p - shared + t), n, beta, alpha)
        if route == "representation (Gram)":
            return ring(4 * (t * t + t), n, beta, alpha) + ring(4 * p, n, beta, alpha)
        # representation, gathered: the whole [T, N b d] matrix
        return gather(4 * t * n * b * d, n, beta, alpha) + ring(4 * p, n, beta, alpha)

    routes = ["losses", "parameters", "representation (Gram)", "representation (gather)"]
    efficiency = lambda route, n, b, beta, alpha: (t0 + b * s) / (t0 + b * s + comm(route, n, b, beta, alpha))

    def table(title, align, cell):
        print(f"\n{title}")
        print("| route | link | " + " | ".join(f"N = {n}" for n in ranks) + " |")
        print("|---|---|" + f"{align}|" * len(ranks))
        for route in routes:
            for link, (beta, alpha) in LINKS.items():
                cells = [cell(route, n, beta, alpha) for n in ranks]
                print(f"| {route} | {link} | " + " | ".join(cells) + " |")

    def batch_for_0_9(route, n, beta, alpha):
        b = 1
        while b <= 1 << 22:
            if efficiency(route, n, b, beta, alpha) >= 0.9:
                return f"{b} ({b * n:,})"
            b = b * 2 if b < 64 else int(b * 1.25)
        return "never"

    print(f"compute(b) = {args.t0_ms} ms + b × {args.per_sample_us} µs; P = {p}, shared {shared}, T = {t}, d = {d}")
    table(f"weak scaling at {args.batch} samples per rank: efficiency", "---:",
          lambda route, n, beta, alpha: f"{efficiency(route, n, args.batch, beta, alpha):.2f}")
    table("samples per rank (and global batch) needed for efficiency ≥ 0.9", "---", batch_for_0_9)

if __name__ == "__main__":
    main()
