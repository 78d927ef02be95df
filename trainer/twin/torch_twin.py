#!/usr/bin/env python3
"""A PyTorch twin of the Go trainer's training step, for speed comparisons.

It builds the encoder, decoder and score network from the architecture that
`trainer info --arch FILE` prints (the same graph the Go trainer builds),
then times the same losses as trainer/lsgm's graphs at the same batch:
stage 1 (VAE: logistic reconstruction and KL) and stage 2 (joint: the
reconstruction, the entropy and the denoising score-matching cross entropy
with the mixed score), forward and backward, in float32 on the CPU, as
BenchmarkTrainStep times the Go graphs. It prints images/s per run.

    trainer info --arch weights/default.lsgm > /tmp/arch.json
    python3 trainer/twin/torch_twin.py /tmp/arch.json --threads 1

It needs python3-torch (Debian); nothing in the build or tests uses it.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F


class Net(torch.nn.Module):
    """One graph of the architecture, node by node."""

    def __init__(self, graph, name):
        super().__init__()
        self.graph, self.name = graph, name
        self.mods = torch.nn.ModuleDict()
        shapes = {i["Name"]: i["Shape"] for i in graph["Inputs"]}
        for n in graph["Nodes"]:
            op, ins = n["Op"], n["In"]
            s = shapes[ins[0]]
            if op == "conv2d":
                self.mods[n["Name"]] = torch.nn.Conv2d(s[0], n["Out"], n["Kernel"], n["Stride"], n["Pad"])
                h = (s[1] + 2 * n["Pad"] - n["Kernel"]) // n["Stride"] + 1
                w = (s[2] + 2 * n["Pad"] - n["Kernel"]) // n["Stride"] + 1
                shapes[n["Name"]] = [n["Out"], h, w]
            elif op == "linear":
                self.mods[n["Name"]] = torch.nn.Linear(s[0], n["Out"])
                shapes[n["Name"]] = [n["Out"]]
            elif op == "groupnorm":
                self.mods[n["Name"]] = torch.nn.GroupNorm(n["Groups"], s[0], eps=n["Eps"])
                shapes[n["Name"]] = s
            elif op == "upsample":
                shapes[n["Name"]] = [s[0], s[1] * n["Factor"], s[2] * n["Factor"]]
            elif op == "concat":
                shapes[n["Name"]] = [sum(shapes[i][0] for i in ins)] + s[1:]
            elif op == "reshape":
                shapes[n["Name"]] = n["Shape"]
            elif op == "timeembed":
                shapes[n["Name"]] = [n["Dim"]]
            elif op in ("silu", "sigmoid", "add"):
                shapes[n["Name"]] = s
            else:
                raise SystemExit(f"torch_twin: {name}: op {op!r} is not known here")

    def forward(self, **inputs):
        v = dict(inputs)
        for n in self.graph["Nodes"]:
            op, ins, name = n["Op"], n["In"], n["Name"]
            x = v[ins[0]]
            if op in ("conv2d", "linear", "groupnorm"):
                y = self.mods[name](x)
            elif op == "silu":
                y = F.silu(x)
            elif op == "sigmoid":
                y = torch.sigmoid(x)
            elif op == "upsample":
                y = F.interpolate(x, scale_factor=n["Factor"], mode="nearest")
            elif op == "add":
                b = v[ins[1]]
                if b.dim() < x.dim():  # [B, C] added per channel
                    b = b.reshape(b.shape + (1,) * (x.dim() - b.dim()))
                y = x + b
            elif op == "concat":
                y = torch.cat([v[i] for i in ins], dim=1)
            elif op == "reshape":
                y = x.reshape((x.shape[0],) + tuple(n["Shape"]))
            elif op == "timeembed":
                half = n["Dim"] // 2
                f = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
                a = n["Scale"] * x.reshape(-1, 1) * f
                y = torch.cat([torch.sin(a), torch.cos(a)], dim=1)
            v[name] = y
        return {o["Name"]: v[o["Node"]] for o in self.graph["Outputs"]}


def logistic_nll(mean, log_scale, x):
    """Discretized logistic over 256 bins of [-1, 1], per pixel."""
    inv = torch.exp(-log_scale)
    c = x - mean
    plus, minus = inv * (c + 1 / 255), inv * (c - 1 / 255)
    cdf_delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    lo = plus - F.softplus(plus)
    hi = -F.softplus(minus)
    mid = torch.log(torch.clamp(cdf_delta, min=1e-12))
    return -torch.where(x < -0.999, lo, torch.where(x > 0.999, hi, mid))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("arch", help="JSON from `trainer info --arch`")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per run")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    a = json.load(open(args.arch))
    if a["Likelihood"] != "logistic":
        raise SystemExit("torch_twin: this twin has the logistic decoder only")
    enc, dec, score = Net(a["Encoder"], "encoder"), Net(a["Decoder"], "decoder"), Net(a["Score"], "score")
    lat = tuple(a["LatentShape"])
    mix = torch.zeros((1,) + lat, requires_grad=True) if a["MixLogit"] else None
    B = args.batch
    x = torch.rand((B,) + tuple(a["DataShape"])) * 2 - 1
    # A class-conditional score also reads a one-hot class (the last slot is
    # "no class"), as the Go graph does.
    cond = {}
    if any(i["Name"] == "y" for i in a["Score"]["Inputs"]):
        k = len(a["Classes"]) + 1
        cond["y"] = F.one_hot(torch.randint(0, k, (B,)), k).float()

    def step(stage):
        out = enc(x=x)
        mu, ls = out["mu"], out["log_sigma"]
        z0 = mu + torch.exp(ls) * torch.randn_like(mu)
        d = dec(z=z0)
        recon = logistic_nll(d["mean"], d["log_scale"], x).sum() / B
        if stage == "vae":
            kl = (0.5 * (mu.square() + torch.exp(2 * ls)).sum() - ls.sum()) / B
            loss = recon + kl
        else:
            t = torch.rand(B, 1) * 0.99 + 0.01
            m, s = torch.exp(-t).reshape(B, 1, 1, 1), torch.sqrt(1 - torch.exp(-2 * t)).reshape(B, 1, 1, 1)
            n1 = torch.randn_like(z0)
            zt = m * z0 + s * n1
            eps = score(z=zt, t=t, **cond)["eps"]
            if mix is not None:
                kz = zt * (s / (m * m + s * s))
                eps = kz + (eps - kz) * torch.sigmoid(mix)
            w = torch.rand(B)
            ce = ((n1 - eps).square().reshape(B, -1).sum(1) * w).sum() / B
            loss = recon + ce - ls.sum() / B
        for p in params:
            p.grad = None
        loss.backward()

    params = list(enc.parameters()) + list(dec.parameters()) + list(score.parameters()) + ([mix] if mix is not None else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {B}, mkldnn {torch.backends.mkldnn.is_available()}")
    for stage in ("vae", "joint"):
        step(stage)  # warm-up
        rates = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step(stage)
            rates.append(B * args.steps / (time.perf_counter() - t0))
        print(f"{stage}/B{B}: " + " ".join(f"{r:.1f}" for r in rates) + f" images/s (median {statistics.median(rates):.1f})")


if __name__ == "__main__":
    main()
