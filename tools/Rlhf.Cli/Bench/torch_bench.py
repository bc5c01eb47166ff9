#!/usr/bin/python3
"""The PyTorch side of `rlhf bench ... --compare-pytorch`: the same work on the same weights, in eager PyTorch.

Run by the rlhf CLI (not meant to be run by hand, but it can be):

    python3 torch_bench.py <spec.json> <result.json>

spec.json names a task (env, decode, ppo, rm, score), the checkpoint directories the CLI saved (HF layout:
config.json + model.safetensors, read here with numpy) and the work (token ids, batch sizes, options). The model is
a Llama-family decoder written op for op like shared/Rlhf.Modeling (RMSNorm, RoPE with HF's rotate_half, GQA by
repeating K/V, SwiGLU, tied or separate lm_head, a bias-free scalar head for critics and reward models).

Every result carries "env": torch version and config, threads, the BLAS library torch loaded and OpenBLAS's core
(OPENBLAS_CORETYPE), and a GEMM check: a 512^3 float32 matmul against float64 (max relative error) and the GFLOP/s
of 1024^3 matmuls, so a wrong or slow BLAS shows in the output.
"""

import ctypes
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------------------
# environment
# ----------------------------------------------------------------------------------------------------------


def blas_library():
    """Path of the libblas torch loaded (from /proc/self/maps) and, for OpenBLAS, its config and core."""
    path = None
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split()
            if len(parts) >= 6 and ("libblas" in parts[5] or "libopenblas" in parts[5]):
                path = parts[5]
                break
    info = {"library": path or "none found", "openblas_config": None, "openblas_core": None}
    if path:
        lib = ctypes.CDLL(path)
        for symbol, key in (("openblas_get_config", "openblas_config"), ("openblas_get_corename", "openblas_core")):
            if hasattr(lib, symbol):
                fn = getattr(lib, symbol)
                fn.restype = ctypes.c_char_p
                info[key] = fn().decode()
    info["kind"] = "OpenBLAS" if info["openblas_config"] else "reference BLAS (slow; install libopenblas0-openmp)"
    return info


def gemm_check():
    torch.manual_seed(0)
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    exact = a.double() @ b.double()
    error = ((a @ b).double() - exact).abs().max().item() / exact.abs().max().item()
    n = 1024
    x, y = torch.randn(n, n), torch.randn(n, n)
    x @ y
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(5):
            x @ y
        best = max(best, 5 * 2.0 * n ** 3 / (time.perf_counter() - start) / 1e9)
    return {"max_relative_error": error, "gflops_1024": best}


def environment():
    capability = "unknown"
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage" in line:
            capability = line.split(":", 1)[1].strip()
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": capability,
        "ATEN_CPU_CAPABILITY": os.environ.get("ATEN_CPU_CAPABILITY"),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "blas": blas_library(),
        "gemm": gemm_check(),
    }


# ----------------------------------------------------------------------------------------------------------
# model (HF names, so load_state_dict takes the safetensors keys as they are)
# ----------------------------------------------------------------------------------------------------------


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    header_len = int(np.frombuffer(data[:8], dtype="<u8")[0])
    header = json.loads(data[8:8 + header_len].decode("utf-8"))
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[base + start:base + end]
        if info["dtype"] == "F32":
            array = np.frombuffer(raw, dtype="<f4")
        elif info["dtype"] == "BF16":
            array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << np.uint32(16)).view(np.float32)
        else:
            raise ValueError(f"{path}: {name} has dtype {info['dtype']} (F32 or BF16 expected)")
        tensors[name] = torch.from_numpy(array.reshape(info["shape"]).copy())
    return tensors


class Config:
    def __init__(self, d):
        self.hidden = int(d["hidden_size"])
        self.intermediate = int(d["intermediate_size"])
        self.layers = int(d["num_hidden_layers"])
        self.heads = int(d["num_attention_heads"])
        self.kv_heads = int(d.get("num_key_value_heads") or self.heads)
        self.eps = float(d.get("rms_norm_eps", 1e-5))
        self.theta = float(d.get("rope_theta", 10000.0))
        self.vocab = int(d["vocab_size"])
        self.tied = bool(d.get("tie_word_embeddings", True))
        self.bias = bool(d.get("attention_bias", False))
        self.head_dim = self.hidden // self.heads


class RmsNorm(torch.nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + self.eps) * self.weight


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class Attention(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.q_proj = torch.nn.Linear(c.hidden, c.heads * c.head_dim, bias=c.bias)
        self.k_proj = torch.nn.Linear(c.hidden, c.kv_heads * c.head_dim, bias=c.bias)
        self.v_proj = torch.nn.Linear(c.hidden, c.kv_heads * c.head_dim, bias=c.bias)
        self.o_proj = torch.nn.Linear(c.heads * c.head_dim, c.hidden, bias=False)

    def forward(self, x, cos, sin, mask, cache):
        c = self.c
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, c.heads, c.head_dim).transpose(1, 2)          # (B, nh, T, hd)
        k = self.k_proj(x).view(b, t, c.kv_heads, c.head_dim).transpose(1, 2)       # (B, nkv, T, hd)
        v = self.v_proj(x).view(b, t, c.kv_heads, c.head_dim).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if cache is not None:
            if cache[0] is not None:
                k, v = torch.cat((cache[0], k), 2), torch.cat((cache[1], v), 2)   # (B, nkv, S, hd)
            cache[0], cache[1] = k, v
        group = c.heads // c.kv_heads
        if group > 1:
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(c.head_dim) + mask             # (B, nh, T, S)
        attended = scores.softmax(-1) @ v                                            # (B, nh, T, hd)
        return self.o_proj(attended.transpose(1, 2).reshape(b, t, c.heads * c.head_dim))


class Mlp(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = torch.nn.Linear(c.hidden, c.intermediate, bias=False)
        self.up_proj = torch.nn.Linear(c.hidden, c.intermediate, bias=False)
        self.down_proj = torch.nn.Linear(c.intermediate, c.hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RmsNorm(c.hidden, c.eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RmsNorm(c.hidden, c.eps)
        self.mlp = Mlp(c)

    def forward(self, x, cos, sin, mask, cache):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Trunk(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = torch.nn.Embedding(c.vocab, c.hidden)
        self.layers = torch.nn.ModuleList([Layer(c) for _ in range(c.layers)])
        self.norm = RmsNorm(c.hidden, c.eps)
        self.register_buffer("inv_freq", 1.0 / (c.theta ** (torch.arange(0, c.head_dim, 2).double() / c.head_dim)).float(),
                             persistent=False)

    def forward(self, ids, attention_mask, caches=None, past=0):
        """ids (B, T); attention_mask (B, past + T) of 1 for real tokens; caches: one [k, v] per layer or None."""
        b, t = ids.shape
        s = past + t
        keys = attention_mask.bool()
        positions = (keys.long().cumsum(1) - 1).clamp_min(0)[:, past:]                # (B, T)
        angles = positions.float().unsqueeze(-1) * self.inv_freq
        angles = torch.cat((angles, angles), -1)
        cos, sin = angles.cos().unsqueeze(1), angles.sin().unsqueeze(1)              # (B, 1, T, hd)
        allowed = (torch.arange(s).unsqueeze(0) <= torch.arange(past, s).unsqueeze(1)).unsqueeze(0) & keys.unsqueeze(1)
        mask = torch.zeros(b, 1, t, s).masked_fill(~allowed.unsqueeze(1), torch.finfo(torch.float32).min)
        x = self.embed_tokens(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, None if caches is None else caches[i])
        return self.norm(x)


class CausalLM(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = Trunk(c)
        self.lm_head = None if c.tied else torch.nn.Linear(c.hidden, c.vocab, bias=False)

    def forward(self, ids, attention_mask, caches=None, past=0):
        hidden = self.model(ids, attention_mask, caches, past)
        return F.linear(hidden, self.model.embed_tokens.weight) if self.lm_head is None else self.lm_head(hidden)


class ScalarHeadModel(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = Trunk(c)
        self.score = torch.nn.Linear(c.hidden, 1, bias=False)

    def values(self, ids, attention_mask):
        return self.score(self.model(ids, attention_mask)).squeeze(-1)               # (B, T)

    def rewards(self, ids, attention_mask):
        last = (torch.arange(ids.shape[1]).unsqueeze(0) * attention_mask).argmax(1)
        return self.values(ids, attention_mask).gather(1, last.unsqueeze(1)).squeeze(1)


def load(directory, kind):
    with open(os.path.join(directory, "config.json")) as f:
        c = Config(json.load(f))
    model = CausalLM(c) if kind == "policy" else ScalarHeadModel(c)
    tensors = read_safetensors(os.path.join(directory, "model.safetensors"))
    if c.tied:
        tensors.pop("lm_head.weight", None)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return model


# ----------------------------------------------------------------------------------------------------------
# tasks
# ----------------------------------------------------------------------------------------------------------


def best_of(runs, measure):
    measure()
    return max(measure() for _ in range(runs))


@torch.no_grad()
def greedy(model, prompts, new_tokens):
    """Greedy decode with a KV cache (K/V concatenated per step, as eager HF does); equal-length prompts."""
    ids = torch.tensor(prompts)
    mask = torch.ones_like(ids)
    caches = [[None, None] for _ in model.model.layers]
    out, past, step_input = [], 0, ids
    for _ in range(new_tokens):
        logits = model(step_input, mask, caches, past)
        past += step_input.shape[1]
        step_input = logits[:, -1].argmax(-1, keepdim=True)                          # (B, 1)
        out.append(step_input)
        mask = torch.cat((mask, torch.ones_like(step_input)), 1)
    return torch.cat(out, 1).tolist()


def decode(spec):
    model = load(spec["checkpoint"], "policy")
    results = []
    for prompts in spec["batches"]:
        if len({len(p) for p in prompts}) != 1:
            raise ValueError("decode prompts must be of equal length")
        tokens = {}

        def measure():
            start = time.perf_counter()
            tokens["ids"] = greedy(model, prompts, spec["new_tokens"])
            return len(prompts) * spec["new_tokens"] / (time.perf_counter() - start)

        rate = best_of(spec["runs"], measure)
        results.append({"batch": len(prompts), "tokens_per_second": rate, "tokens": tokens["ids"]})
    return {"batches": results}


def collate(pairs):
    length = max(len(p) + len(r) for p, r in pairs)
    ids = torch.zeros(len(pairs), length, dtype=torch.long)
    mask = torch.zeros_like(ids)
    response = torch.zeros_like(ids)
    for row, (prompt, reply) in enumerate(pairs):
        sequence = list(prompt) + list(reply)
        ids[row, :len(sequence)] = torch.tensor(sequence)
        mask[row, :len(sequence)] = 1
        response[row, len(prompt):len(sequence)] = 1
    return ids, mask, response


def token_log_probs(logits, ids, temperature):
    logp = (logits[:, :-1] / temperature).log_softmax(-1)
    return logp.gather(2, ids[:, 1:].unsqueeze(-1)).squeeze(-1)                      # (B, S-1)


def masked_mean(x, mask):
    return (x * mask).sum() / mask.sum()


def whiten(x, mask):
    mean = masked_mean(x, mask)
    count = mask.sum()
    variance = (((x - mean) * mask) ** 2).sum() / count * count / (count - 1).clamp_min(1)
    return (x - mean) * torch.rsqrt(variance + 1e-8) * mask


def adamw(model, options):
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=options["lr"],
                             betas=(options.get("beta1", 0.9), options.get("beta2", 0.999)), eps=options.get("eps", 1e-8),
                             weight_decay=options.get("weight_decay", 0.0))


def ppo(spec):
    """One PPO step as shared/Rlhf.Training's PpoTrainer does it: score once (reference log-probs, critic values),
    k1 KL penalty, shaped rewards, GAE, whitened advantages, then epochs x shuffled mini-batches of actor + critic
    forward/backward, gradient clipping and AdamW."""
    o = spec["options"]
    actor, critic, reference = load(spec["actor"], "policy"), load(spec["critic"], "scalar"), load(spec["reference"], "policy")
    for p in reference.parameters():
        p.requires_grad = False
    actor_opt, critic_opt = adamw(actor, o["actor"]), adamw(critic, o["critic"])
    rollouts = spec["rollouts"]
    ids, attention, response = collate([(r["prompt"], r["response"]) for r in rollouts])
    mask = response[:, 1:].float()
    old = torch.zeros(mask.shape)
    for row, r in enumerate(rollouts):
        offset = len(r["prompt"]) - 1
        old[row, offset:offset + len(r["logprobs"])] = torch.tensor(r["logprobs"])
    scores = torch.tensor([r["score"] for r in rollouts]).clamp(-o["score_clip"], o["score_clip"])
    shuffle = torch.Generator().manual_seed(o["seed"])

    def step():
        with torch.no_grad():
            ref = token_log_probs(reference(ids, attention), ids, o["temperature"])
            old_values = critic.values(ids, attention)[:, :-1]
            kl = (old - ref) * mask
            rewards = -o["beta"] * kl
            last = (torch.arange(mask.shape[1]).unsqueeze(0) * mask.long()).argmax(1)
            rewards = rewards.scatter_add(1, last.unsqueeze(1), scores.unsqueeze(1))
            next_value, next_advantage, columns = torch.zeros(len(rollouts)), torch.zeros(len(rollouts)), []
            values = old_values * mask
            for t in reversed(range(mask.shape[1])):
                delta = rewards[:, t] + o["gamma"] * next_value - values[:, t]
                next_advantage = (delta + o["gamma"] * o["lambda"] * next_advantage) * mask[:, t]
                next_value = values[:, t]
                columns.append(next_advantage)
            advantages = torch.stack(columns[::-1], 1)
            returns = (advantages + values) * mask
            advantages = whiten(advantages, mask)
        actor.train()
        critic.train()
        for _ in range(o["epochs"]):
            order = torch.randperm(len(rollouts), generator=shuffle)
            for start in range(0, len(rollouts), o["mini_batch"]):
                rows = order[start:start + o["mini_batch"]]
                b_ids, b_att, b_mask = ids[rows], attention[rows], mask[rows]
                logits = actor(b_ids, b_att)
                log_ratio = (token_log_probs(logits, b_ids, o["temperature"]) - old[rows]) * b_mask
                ratio = log_ratio.exp()
                adv = advantages[rows]
                policy_loss = masked_mean(torch.maximum(-adv * ratio, -adv * ratio.clamp(1 - o["clip"], 1 + o["clip"])), b_mask)
                v = critic.values(b_ids, b_att)[:, :-1] * b_mask
                v_old, target = values[rows], returns[rows]
                clipped = v_old + (v - v_old).clamp(-o["value_clip"], o["value_clip"])
                value_loss = 0.5 * masked_mean(torch.maximum((v - target) ** 2, (clipped - target) ** 2), b_mask)
                loss = policy_loss + o["value_coef"] * value_loss
                with torch.no_grad():
                    logp = logits[:, :-1].log_softmax(-1)
                    masked_mean(-(logp.exp() * logp).sum(-1), b_mask).item()
                actor_opt.zero_grad()
                critic_opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(actor.parameters(), o["max_grad_norm"])
                torch.nn.utils.clip_grad_norm_(critic.parameters(), o["max_grad_norm"])
                actor_opt.step()
                critic_opt.step()
        actor.eval()
        critic.eval()
        return kl.sum(1).mean().item()

    return timed_steps(spec["runs"], step, "kl")


def rm(spec):
    """One reward-model step: every response of every ranking through the model once, the K-wise pairwise loss
    (-log sigmoid of each cross-tier margin, weighted as the trainer weights them), backward, clipping, AdamW."""
    o = spec["options"]
    model = load(spec["model"], "scalar")
    optimizer = adamw(model, o["optimizer"])
    ids, attention, _ = collate([(s["prompt"], s["response"]) for s in spec["sequences"]])
    better, worse = torch.tensor(spec["pairs"]["better"]), torch.tensor(spec["pairs"]["worse"])
    weights = torch.tensor(spec["pairs"]["weights"])

    def step():
        model.train()
        rewards = model.rewards(ids, attention)
        loss = -(F.logsigmoid(rewards[better] - rewards[worse]) * weights).sum() / spec["pairs"]["rankings"]
        value = loss.item()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), o["max_grad_norm"])
        optimizer.step()
        model.eval()
        return value

    return timed_steps(spec["runs"], step, "loss")


def timed_steps(runs, step, name):
    first = step()                                                                     # warm-up, and the value to compare
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return {"seconds_per_step": min(seconds), name: first}


@torch.no_grad()
def score(spec):
    model = load(spec["model"], "scalar")
    pairs = [(s["prompt"], s["response"]) for s in spec["sequences"]]
    size = spec["batch_size"]
    out = {}

    def measure():
        start = time.perf_counter()
        rewards = []
        for begin in range(0, len(pairs), size):
            ids, attention, _ = collate(pairs[begin:begin + size])
            rewards.extend(model.rewards(ids, attention).tolist())
        out["rewards"] = rewards
        return len(pairs) / (time.perf_counter() - start)

    rate = best_of(spec["runs"], measure)
    return {"rollouts_per_second": rate, "rewards": out["rewards"]}


TASKS = {"env": lambda spec: {}, "decode": decode, "ppo": ppo, "rm": rm, "score": score}


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: torch_bench.py <spec.json> <result.json>")
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    torch.set_num_threads(int(spec.get("threads") or torch.get_num_threads()))
    torch.manual_seed(int(spec.get("seed", 1)))
    if spec["task"] not in TASKS:
        sys.exit(f"unknown task {spec['task']!r}: use one of {', '.join(TASKS)}")
    result = {"env": environment(), "result": TASKS[spec["task"]](spec)}
    with open(sys.argv[2], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
