#!/usr/bin/python3
"""DIN and DIEN in PyTorch, built to be the same model DIPS trains, as a peer
for bench/peer_bench.sh. See bench/peer/README.md for how each layer
corresponds to DIPS (worker/model/) and what differs.

Runs only under Debian's /usr/bin/python3 with python3-torch (1.13, CPU) and
python3-numpy:  apt-get install -y --no-install-recommends python3-torch python3-numpy

Reads the same text logs as `dips train` (the DIEN format, or DIPS-v1 with an
optional shop column and any profile/context fields; plain text only), builds
its own id vocabularies (one per field, as DIPS hashes (field, id)), trains,
and evaluates test AUC and logloss after every epoch. Prints one JSON object
(also written to --json_out) with the numbers.

samples/s counts only the training steps (tensor conversion, forward, losses,
backward, optimiser steps), not reading the file or assembling batches
(numpy: gather, padding, negative sampling, per-batch unique ids) -- as
DIPS's train_samples_per_sec counts only its TrainStep and not its batch
builder (which runs in a producer thread there).
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEP = "\x02"


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

class Vocab:
    """Raw id -> dense index per field; 0 is padding."""

    def __init__(self):
        self.ids = {}

    def get(self, token):
        i = self.ids.get(token)
        if i is None:
            i = len(self.ids) + 1
            self.ids[token] = i
        return i

    def __len__(self):
        return len(self.ids) + 1


class Schema:
    def __init__(self, has_shop, extra_names):
        self.has_shop = has_shop
        self.extra_names = extra_names
        self.behaviour_fields = ["item", "category"] + (["shop"] if has_shop else [])

    def __eq__(self, other):
        return self.has_shop == other.has_shop and self.extra_names == other.extra_names


def read_schema(first_line):
    if not first_line.startswith("#dips-"):
        return Schema(False, []), False
    cols = first_line.rstrip("\n").split("\t")
    if cols[0] != "#dips-v1":
        raise SystemExit("unsupported log version: " + cols[0])
    names = cols[1:]
    fixed = ["label", "user", "item", "category"]
    if names[:4] != fixed:
        raise SystemExit("unexpected DIPS-v1 header: " + first_line)
    rest = names[4:]
    if rest[:1] == ["shop"]:
        if rest[:4] != ["shop", "item_history", "category_history", "shop_history"]:
            raise SystemExit("unexpected DIPS-v1 header: " + first_line)
        return Schema(True, rest[4:]), True
    if rest[:2] != ["item_history", "category_history"]:
        raise SystemExit("unexpected DIPS-v1 header: " + first_line)
    return Schema(False, rest[2:]), True


class Dataset:
    """Padded numpy arrays of one log file (histories cut to the most recent max_history)."""

    def __init__(self, path, vocabs, max_history, schema=None):
        with open(path, "r", encoding="utf-8", newline="\n") as f:
            first = f.readline()
            file_schema, has_header = read_schema(first)
            if schema is not None and file_schema != schema:
                raise SystemExit(path + ": schema differs from the training file")
            self.schema = file_schema
            lines = f.read().split("\n") if has_header else (first + f.read()).split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        s = self.schema
        nf = len(s.behaviour_fields)
        ne = len(s.extra_names)
        n = len(lines)
        for name in s.behaviour_fields + s.extra_names:
            vocabs.setdefault(name, Vocab())
        fv = [vocabs[name] for name in s.behaviour_fields]
        ev = [vocabs[name] for name in s.extra_names]
        self.labels = np.zeros(n, dtype=np.float32)
        self.target = np.zeros((n, nf), dtype=np.int64)
        self.extra = np.zeros((n, ne), dtype=np.int64)
        self.lengths = np.zeros(n, dtype=np.int64)
        hists = []  # per sample: [nf x len] int lists
        hist_col = 4 + (1 if s.has_shop else 0)
        ncols = hist_col + nf + ne
        bad = 0
        for i, line in enumerate(lines):
            c = line.split("\t")
            if len(c) != ncols:
                bad += 1
                hists.append(None)
                continue
            self.labels[i] = float(c[0])
            for k in range(nf):
                self.target[i, k] = fv[k].get(c[2 + k])
            h = []
            for k in range(nf):
                col = c[hist_col + k]
                toks = col.split(SEP) if col else []
                if len(toks) > max_history:
                    toks = toks[-max_history:]
                g = fv[k].get
                h.append([g(t) for t in toks])
            self.lengths[i] = len(h[0])
            hists.append(h)
            for k in range(ne):
                self.extra[i, k] = ev[k].get(c[hist_col + nf + k])
        if bad:
            print(f"{path}: {bad} malformed lines skipped", file=sys.stderr)
        keep = np.array([h is not None for h in hists])
        tmax = int(self.lengths.max()) if n else 0
        self.hist = np.zeros((n, tmax, nf), dtype=np.int64)
        for i, h in enumerate(hists):
            if h is None:
                continue
            L = len(h[0])
            if L:
                self.hist[i, :L, :] = np.array(h, dtype=np.int64).T
        if not keep.all():
            self.labels, self.target, self.extra, self.lengths, self.hist = (
                a[keep] for a in (self.labels, self.target, self.extra, self.lengths, self.hist))
        self.n = len(self.labels)


class NegativePool:
    """DIEN negatives: behaviours drawn uniformly from all training history
    occurrences (so popularity-weighted), redrawn up to 10 times while the
    drawn item equals the real next item."""

    def __init__(self, data, rng):
        mask = np.arange(data.hist.shape[1])[None, :] < data.lengths[:, None]
        self.pool = data.hist[mask]  # [occurrences x nf]
        self.rng = rng

    def sample(self, real_items):
        n = len(real_items)
        idx = self.rng.integers(0, len(self.pool), size=n)
        out = self.pool[idx]
        for _ in range(10):
            same = out[:, 0] == real_items
            if not same.any():
                break
            k = int(same.sum())
            out[same] = self.pool[self.rng.integers(0, len(self.pool), size=k)]
        return out


def make_batch(data, idx, neg_pool, num_tables, field_tables):
    """Numpy side of one batch (untimed, like DIPS's batch builder)."""
    lens = data.lengths[idx]
    T = max(int(lens.max()), 1)
    hist = data.hist[idx, :T, :]
    mask = np.arange(T)[None, :] < lens[:, None]
    b = {
        "labels": data.labels[idx],
        "target": data.target[idx],
        "extra": data.extra[idx],
        "hist": hist,
        "mask": mask,
    }
    if neg_pool is not None:
        neg = np.zeros_like(hist)
        # negatives at positions t >= 1 that are valid (they stand against e_t,
        # scored with h_{t-1})
        pos = mask.copy()
        pos[:, 0] = False
        real = hist[pos][:, 0]
        neg[pos] = neg_pool.sample(real)
        b["neg"] = neg
    # unique ids and their counts in this batch, per table (MBA regularisation)
    ids = [[] for _ in range(num_tables)]
    for k, t in enumerate(field_tables["behaviour"]):
        ids[t].append(b["target"][:, k])
        ids[t].append(hist[:, :, k][mask])
        if neg_pool is not None:
            ids[t].append(b["neg"][:, :, k][b["neg"][:, :, k] > 0])
    for k, t in enumerate(field_tables["extra"]):
        ids[t].append(b["extra"][:, k])
    b["uniq"] = []
    for t in range(num_tables):
        u, c = np.unique(np.concatenate(ids[t]), return_counts=True)
        b["uniq"].append((u, c))
    return b


# --------------------------------------------------------------------------
# Model (same layers, sizes, activations and initialisation as DIPS)
# --------------------------------------------------------------------------

def glorot_(linear):
    nn.init.xavier_uniform_(linear.weight)
    nn.init.zeros_(linear.bias)
    return linear


class Dice(nn.Module):
    """Dice (DIN paper 5.2): batch statistics in training (gradient flows through
    them; biased variance), moving averages (momentum 0.99) in evaluation; alpha 0."""

    def __init__(self, units, eps=1e-8, momentum=0.99):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(units))
        self.register_buffer("moving_mean", torch.zeros(units))
        self.register_buffer("moving_var", torch.ones(units))
        self.eps = eps
        self.momentum = momentum

    def forward(self, x):
        if self.training:
            mean = x.mean(0)
            var = x.var(0, unbiased=False)
            with torch.no_grad():
                m = self.momentum
                self.moving_mean.mul_(m).add_(mean.detach(), alpha=1 - m)
                self.moving_var.mul_(m).add_(var.detach(), alpha=1 - m)
        else:
            mean, var = self.moving_mean, self.moving_var
        p = torch.sigmoid((x - mean) / torch.sqrt(var + self.eps))
        return x * (self.alpha + p * (1 - self.alpha))


class Head(nn.Module):
    """x -> 200 -> 80 -> 1 with Dice after each hidden layer."""

    def __init__(self, in_dim, hidden=(200, 80)):
        super().__init__()
        layers = []
        for h in hidden:
            layers += [glorot_(nn.Linear(in_dim, h)), Dice(h)]
            in_dim = h
        layers.append(glorot_(nn.Linear(in_dim, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).squeeze(-1)


class AttentionUnit(nn.Module):
    """a = MLP([k, q, k - q, k * q]): 4D -> 80 -> 40 -> 1, PReLU (alpha 0.1)."""

    def __init__(self, dim, h1=80, h2=40):
        super().__init__()
        self.net = nn.Sequential(
            glorot_(nn.Linear(4 * dim, h1)), nn.PReLU(h1, init=0.1),
            glorot_(nn.Linear(h1, h2)), nn.PReLU(h2, init=0.1),
            glorot_(nn.Linear(h2, 1)))

    def forward(self, keys, query, mask):
        """keys [B,T,D], query [B,D], mask [B,T] bool -> scores [B,T] (0 at padding).
        Like DIPS, the MLP runs on the valid positions only."""
        bi, ti = mask.nonzero(as_tuple=True)
        k = keys[bi, ti]
        q = query[bi]
        s = self.net(torch.cat([k, q, k - q, k * q], dim=-1)).squeeze(-1)
        scores = keys.new_zeros(mask.shape)
        return scores.index_put((bi, ti), s)


class GruCell(nn.Module):
    """DIPS's GRU step (docs/models.md): one bias per gate, gates u, r, h~;
    h~ = tanh(W_h x + r * (U_h h) + b_h); optional attention scaling of the
    update gate (AUGRU). Glorot per gate, zero bias."""

    def __init__(self, in_dim, hidden):
        super().__init__()
        self.hidden = hidden
        self.w_input = nn.Parameter(torch.empty(in_dim, 3 * hidden))
        self.w_hidden = nn.Parameter(torch.empty(hidden, 3 * hidden))
        self.bias = nn.Parameter(torch.zeros(3 * hidden))
        for g in range(3):
            nn.init.xavier_uniform_(self.w_input.data[:, g * hidden:(g + 1) * hidden])
            nn.init.xavier_uniform_(self.w_hidden.data[:, g * hidden:(g + 1) * hidden])

    def forward(self, x, att=None):
        """x [B,T,I] -> h [B,T,H]. att [B,T] scales the update gate (AUGRU);
        a padded step (att 0) carries the state."""
        B, T, _ = x.shape
        H = self.hidden
        xw = torch.addmm(self.bias, x.reshape(B * T, -1), self.w_input).view(B, T, 3 * H)
        h = x.new_zeros(B, H)
        out = []
        # unbind, not xw[:, t]: the backward of a per-step slice writes a
        # full-size zero tensor every step (quadratic in T).
        xs = xw.unbind(1)
        atts = att.unsqueeze(-1).unbind(1) if att is not None else None
        for t in range(T):
            hu = h @ self.w_hidden
            xt = xs[t]
            ur = torch.sigmoid(xt[:, :2 * H] + hu[:, :2 * H])
            u, r = ur[:, :H], ur[:, H:]
            hc = torch.tanh(xt[:, 2 * H:] + r * hu[:, 2 * H:])
            if atts is not None:
                u = atts[t] * u
            h = h + u * (hc - h)
            out.append(h)
        return torch.stack(out, dim=1)


class CtrModel(nn.Module):
    def __init__(self, kind, vocab_sizes, field_tables, num_behaviour_fields, num_extra,
                 dim=18, extractor="nn_gru"):
        super().__init__()
        self.kind = kind
        self.field_tables = field_tables
        self.tables = nn.ModuleList(
            nn.Embedding(v, dim, padding_idx=0, sparse=True) for v in vocab_sizes)
        for e in self.tables:
            nn.init.uniform_(e.weight, -0.01, 0.01)  # DIPS: uniform +-init_scale (0.01)
            with torch.no_grad():
                e.weight[0].zero_()
        D = num_behaviour_fields * dim
        P = num_extra * dim
        self.D = D
        if kind == "din":
            self.attention = AttentionUnit(D)
        elif kind == "dien":
            H = D
            self.extractor_kind = extractor
            if extractor == "nn_gru":
                self.extractor = nn.GRU(D, H, batch_first=True)
                for name, w in self.extractor.named_parameters():
                    if name.startswith("weight"):
                        for g in range(3):  # per-gate Glorot, as DIPS
                            nn.init.xavier_uniform_(w.data[g * H:(g + 1) * H])
                    else:
                        nn.init.zeros_(w)
            else:
                self.extractor = GruCell(D, H)
            self.aux = nn.Sequential(
                glorot_(nn.Linear(H + D, 100)), nn.Sigmoid(),
                glorot_(nn.Linear(100, 50)), nn.Sigmoid(),
                glorot_(nn.Linear(50, 1)))
            self.attention = AttentionUnit(H)
            self.evolution = GruCell(H, H)
        self.head = Head(P + 4 * D)

    def sparse_parameters(self):
        return list(self.tables.parameters())

    def dense_parameters(self):
        sparse = {id(p) for p in self.sparse_parameters()}
        return [p for p in self.parameters() if id(p) not in sparse]

    def behaviours(self, ids):
        """ids [..., F] -> [..., F*d]"""
        ft = self.field_tables["behaviour"]
        return torch.cat([self.tables[t](ids[..., k]) for k, t in enumerate(ft)], dim=-1)

    def forward(self, b):
        mask = b["mask"]
        va = self.behaviours(b["target"])
        e = self.behaviours(b["hist"])  # padding (id 0, padding_idx) embeds to 0
        parts = []
        et = self.field_tables["extra"]
        if et:
            parts.append(torch.cat([self.tables[t](b["extra"][:, k]) for k, t in enumerate(et)],
                                   dim=-1))
        s = e.sum(1)
        parts += [va, s, va * s]
        aux_loss = e.new_zeros(())
        if self.kind == "din":
            w = self.attention(e, va, mask)  # raw scores, no normalisation (paper)
            parts.append((w.unsqueeze(-1) * e).sum(1))
        elif self.kind == "dien":
            if self.extractor_kind == "nn_gru":
                h, _ = self.extractor(e)
            else:
                h = self.extractor(e)
            if self.training and "neg" in b:
                nxt = mask[:, 1:]  # pairs (t, t+1) both valid
                hs = h[:, :-1][nxt]
                pos = e[:, 1:][nxt]
                neg = self.behaviours(b["neg"][:, 1:][nxt])
                x = torch.cat([torch.cat([hs, pos], -1), torch.cat([hs, neg], -1)], 0)
                y = torch.cat([hs.new_ones(len(hs)), hs.new_zeros(len(hs))])
                aux_loss = F.binary_cross_entropy_with_logits(self.aux(x).squeeze(-1), y)
            scores = self.attention(h, va, mask)
            a = torch.softmax(scores.masked_fill(~mask, -1e30), dim=1) * mask
            h2 = self.evolution(h, a)  # AUGRU; padded steps (a = 0) carry the state
            parts.append(h2[:, -1])
        logits = self.head(torch.cat(parts, dim=-1))
        return logits, aux_loss


class LazyAdam(torch.optim.Optimizer):
    """Optional exact copy of DIPS's sparse optimiser: Adam applied only to rows
    present in the batch, with each row's own update count for the bias
    correction (torch.optim.SparseAdam uses one step count per table)."""

    def __init__(self, params, lr=0.003, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.coalesce()
                idx, val = g.indices()[0], g.values()
                st = self.state[p]
                if not st:
                    st["m"] = torch.zeros_like(p)
                    st["v"] = torch.zeros_like(p)
                    st["t"] = torch.zeros(p.shape[0], dtype=torch.float64)
                t = st["t"][idx] + 1
                st["t"][idx] = t
                c1 = (1 - b1 ** t).to(p.dtype).unsqueeze(1)
                c2 = (1 - b2 ** t).to(p.dtype).unsqueeze(1)
                m = st["m"][idx] * b1 + (1 - b1) * val
                v = st["v"][idx] * b2 + (1 - b2) * val * val
                st["m"][idx] = m
                st["v"][idx] = v
                p[idx] -= group["lr"] * (m / c1) / ((v / c2).sqrt() + group["eps"])


# --------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------

def auc(labels, scores):
    """AUC over all samples, ties count one half (average ranks)."""
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    pos = labels.sum()
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # average rank of each run of equal scores
    boundaries = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(s)]])
    avg = (starts + ends + 1) / 2.0  # 1-based ranks
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[labels == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def to_torch(b):
    out = {}
    for k, v in b.items():
        if k == "uniq":
            out[k] = [(torch.from_numpy(u), torch.from_numpy(c)) for u, c in v]
        else:
            out[k] = torch.from_numpy(v)
    return out


def evaluate(model, data, field_tables, num_tables, batch=1024):
    model.eval()
    probs = []
    with torch.no_grad():
        for i in range(0, data.n, batch):
            idx = np.arange(i, min(i + batch, data.n))
            b = to_torch(make_batch(data, idx, None, num_tables, field_tables))
            logits, _ = model(b)
            probs.append(torch.sigmoid(logits).numpy())
    model.train()
    p = np.concatenate(probs).astype(np.float64)
    y = data.labels.astype(np.float64)
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    logloss = float(-(y * np.log(pc) + (1 - y) * np.log(1 - pc)).mean())
    return auc(y, p), logloss


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=["din", "dien"], default="din")
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--batch_size", type=int, default=128)
    ap.add_argument("--embedding_dim", type=int, default=18)
    ap.add_argument("--max_history", type=int, default=100)
    ap.add_argument("--sparse_lr", type=float, default=0.003)
    ap.add_argument("--dense_lr", type=float, default=0.002)
    ap.add_argument("--mba_lambda", type=float, default=-1.0,
                    help="negative: DIPS's default for the model (din 0.05, dien 0.15)")
    ap.add_argument("--aux_loss_weight", type=float, default=1.0)
    ap.add_argument("--sparse_optimizer", choices=["sparse_adam", "lazy_adam"],
                    default="sparse_adam",
                    help="sparse_adam: torch.optim.SparseAdam; lazy_adam: per-row bias "
                         "correction as DIPS")
    ap.add_argument("--extractor", choices=["nn_gru", "cell"], default="nn_gru",
                    help="DIEN interest extractor: torch.nn.GRU (fused, default) or the "
                         "DIPS-formulation GRU cell in a Python loop")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max_steps", type=int, default=0, help="stop after N steps (0: no limit)")
    ap.add_argument("--time_limit_s", type=float, default=0.0,
                    help="stop training after this much wall time (0: no limit); the result "
                         "is then marked truncated (its AUC is not that of the full run)")
    ap.add_argument("--no_eval", action="store_true", help="skip the test evaluation "
                    "(throughput-only runs)")
    ap.add_argument("--json_out", default="")
    args = ap.parse_args()
    if args.mba_lambda < 0:  # as DefaultMbaLambda in worker/train/trainer.cc
        args.mba_lambda = 0.15 if args.model == "dien" else 0.05

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    t0 = time.perf_counter()
    vocabs = {}
    train = Dataset(args.train, vocabs, args.max_history)
    test = Dataset(args.test, vocabs, args.max_history, schema=train.schema)
    load_s = time.perf_counter() - t0
    schema = train.schema
    names = schema.behaviour_fields + schema.extra_names
    table_of = {n: i for i, n in enumerate(names)}
    field_tables = {"behaviour": [table_of[n] for n in schema.behaviour_fields],
                    "extra": [table_of[n] for n in schema.extra_names]}
    num_tables = len(names)
    print(f"loaded {train.n} train / {test.n} test samples in {load_s:.1f} s; fields "
          + ", ".join(f"{n}:{len(vocabs[n]) - 1}" for n in names), file=sys.stderr)

    model = CtrModel(args.model, [len(vocabs[n]) for n in names], field_tables,
                     len(schema.behaviour_fields), len(schema.extra_names), args.embedding_dim,
                     args.extractor)
    dense_params = model.dense_parameters()
    print(f"model {args.model}: {sum(p.numel() for p in dense_params)} dense parameters, "
          f"{sum(p.numel() for p in model.sparse_parameters())} embedding weights, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads", file=sys.stderr)
    dense_opt = torch.optim.Adam(dense_params, lr=args.dense_lr, betas=(0.9, 0.999), eps=1e-8)
    if args.sparse_optimizer == "sparse_adam":
        sparse_opt = torch.optim.SparseAdam(model.sparse_parameters(), lr=args.sparse_lr,
                                            betas=(0.9, 0.999), eps=1e-8)
    else:
        sparse_opt = LazyAdam(model.sparse_parameters(), lr=args.sparse_lr)
    # n_k: occurrences of each row so far (MBA regularisation, DIN paper 5.1)
    seen = [torch.zeros(len(vocabs[n]), dtype=torch.float32) for n in names]

    neg_pool = NegativePool(train, rng) if (args.model == "dien" and args.aux_loss_weight > 0) \
        else None
    B = args.batch_size
    train_seconds = 0.0
    samples = 0
    steps = 0
    epochs_out = []
    stop = False
    truncated = False
    wall0 = time.perf_counter()
    for epoch in range(args.epochs):
        perm = rng.permutation(train.n)
        ep_loss, ep_batches = 0.0, 0
        ep_wall0 = time.perf_counter()
        for start in range(0, train.n, B):
            nb = make_batch(train, perm[start:start + B], neg_pool, num_tables, field_tables)
            t_step = time.perf_counter()
            b = to_torch(nb)
            logits, aux_loss = model(b)
            loss = F.binary_cross_entropy_with_logits(logits, b["labels"])
            total = loss + args.aux_loss_weight * aux_loss
            if args.mba_lambda > 0:
                reg = 0.0
                for t, (u, c) in enumerate(b["uniq"]):
                    keep = u > 0
                    u, c = u[keep], c[keep]
                    seen[t][u] += c.to(torch.float32)
                    w = model.tables[t](u)
                    reg = reg + (w.pow(2).sum(1) / seen[t][u]).sum()
                total = total + args.mba_lambda * reg
            dense_opt.zero_grad(set_to_none=True)
            sparse_opt.zero_grad(set_to_none=True)
            total.backward()
            dense_opt.step()
            sparse_opt.step()
            train_seconds += time.perf_counter() - t_step
            ep_loss += float(total)
            ep_batches += 1
            samples += len(nb["labels"])
            steps += 1
            if not math.isfinite(ep_loss):
                raise SystemExit(f"loss not finite at step {steps}")
            if args.max_steps and steps >= args.max_steps:
                stop = True
                break
            if args.time_limit_s and time.perf_counter() - wall0 > args.time_limit_s:
                print(f"time limit {args.time_limit_s} s reached after {steps} steps",
                      file=sys.stderr)
                stop = truncated = True
                break
        ep_wall = time.perf_counter() - ep_wall0
        t_eval = time.perf_counter()
        if args.no_eval:
            test_auc, test_logloss = float("nan"), float("nan")
        else:
            test_auc, test_logloss = evaluate(model, test, field_tables, num_tables)
        eval_s = time.perf_counter() - t_eval
        rec = {"epoch": epoch + 1, "steps": steps, "samples": samples,
               "mean_loss": ep_loss / max(ep_batches, 1), "test_auc": test_auc,
               "test_logloss": test_logloss,
               "train_samples_per_sec": samples / train_seconds if train_seconds else 0.0,
               "epoch_wall_s": ep_wall, "eval_s": eval_s}
        epochs_out.append(rec)
        print(json.dumps(rec), file=sys.stderr)
        if stop:
            break
    wall = time.perf_counter() - wall0
    result = {
        "system": "pytorch",
        "model": args.model,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": B,
        "epochs": len(epochs_out),
        "steps": steps,
        "samples": samples,
        "train_seconds": train_seconds,
        "train_samples_per_sec": samples / train_seconds if train_seconds else 0.0,
        "wall_samples_per_sec_incl_batching": samples / wall if wall else 0.0,
        "load_seconds": load_s,
        "test_auc": epochs_out[-1]["test_auc"] if epochs_out else float("nan"),
        "test_logloss": epochs_out[-1]["test_logloss"] if epochs_out else float("nan"),
        "test_samples": test.n,
        "sparse_optimizer": args.sparse_optimizer,
        "extractor": args.extractor if args.model == "dien" else None,
        "truncated": truncated,
        "train_samples_in_file": train.n,
        "per_epoch": epochs_out,
    }
    line = json.dumps(result)
    print(line)
    if args.json_out:
        d = os.path.dirname(args.json_out)
        if d:
            os.makedirs(d, exist_ok=True)
        with open(args.json_out, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
