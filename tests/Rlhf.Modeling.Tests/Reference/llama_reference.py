#!/usr/bin/python3
"""Reference forward pass of a Llama-family decoder (HF LlamaForCausalLM / Qwen2ForCausalLM).

Written from the Hugging Face transformers equations, without importing transformers (it is not
installed here). Needs only Debian's python3-torch and python3-numpy:

    apt-get install -y python3-torch python3-numpy

Usage:
    python3 llama_reference.py <checkpoint_dir> <input.json> <output.json> [--dtype float64|float32] [--threads N]
    python3 llama_reference.py --self-test

Checkpoint: <checkpoint_dir>/config.json (HF names) and <checkpoint_dir>/model.safetensors (or a sharded
model.safetensors.index.json), read with numpy only. F32, F16, BF16 (and F64) tensors are supported; weights
are upcast to the compute dtype (float64 by default).

input.json:
    {"input_ids": [[...], ...],            # B rows of equal length T
     "attention_mask": [[1, 1, 0, ...], ...],  # optional; default all ones; left and right padding both fine
     "position_ids": [[0, 1, 2, ...], ...]}    # optional; overrides the default below

Position ids (default, when "position_ids" is absent) follow HF generate()'s convention:
    position_ids = cumsum(attention_mask, -1) - 1;  position_ids[attention_mask == 0] = 1
so real tokens are numbered 0, 1, 2, ... from the first unmasked token whatever the padding side; pad
positions get 1. NOTE: a plain HF `model(input_ids, attention_mask=...)` call WITHOUT position_ids uses
arange(T) for every row instead; pass "position_ids" explicitly to reproduce that.

Attention: causal, and keys where attention_mask == 0 are masked (-inf). The query side is not masked, as in
HF. A query row with no visible key (a left pad at the start of a row) gets an all-zero attention output
(HF's eager/sdpa paths give other, equally meaningless values there). Logits at positions where
attention_mask == 0 are therefore NOT meaningful: compare only positions with attention_mask == 1.

Numerics: RoPE cos/sin tables are computed exactly as HF does (inv_freq in float32, angles in float32, cos/sin
in float32), then cast to the compute dtype. Everything else runs in the compute dtype (float64 by default;
RMSNorm, softmax and matmuls included).

output.json:
    {"logits": [[[...V floats...] x T] x B], "shape": [B, T, V],
     "position_ids": [[...]], "attention_mask": [[...]], "dtype": "float64"}
"""

import json
import math
import os
import sys

import numpy as np
import torch

# ----------------------------------------------------------------------------------------------------------
# safetensors (numpy only)
# ----------------------------------------------------------------------------------------------------------

_NP_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}


def read_safetensors(path):
    """Returns {name: float32/float64 numpy array} for a .safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = np.frombuffer(data[:8], dtype="<u8")
    header_len = int(header_len)
    header = json.loads(data[8:8 + header_len].decode("utf-8"))
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape = info["dtype"], tuple(info["shape"])
        start, end = info["data_offsets"]
        raw = data[base + start:base + end]
        if dtype == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2")
            arr = (u16.astype(np.uint32) << np.uint32(16)).view(np.float32)
        elif dtype in _NP_DTYPES:
            arr = np.frombuffer(raw, dtype=_NP_DTYPES[dtype])
            if dtype == "F16":
                arr = arr.astype(np.float32)
        else:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dtype} (want F32, F16 or BF16)")
        expected = int(np.prod(shape)) if shape else 1
        if arr.size != expected:
            raise ValueError(f"{path}: tensor {name} has {arr.size} elements, shape {list(shape)} needs {expected}")
        tensors[name] = np.array(arr.reshape(shape), copy=True)  # own, aligned, native-endian memory
    return tensors


def load_checkpoint_tensors(checkpoint_dir):
    single = os.path.join(checkpoint_dir, "model.safetensors")
    if os.path.exists(single):
        return read_safetensors(single)
    index = os.path.join(checkpoint_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            tensors.update(read_safetensors(os.path.join(checkpoint_dir, shard)))
        return tensors
    raise FileNotFoundError(f"{checkpoint_dir}: neither model.safetensors nor model.safetensors.index.json")


def write_safetensors(path, tensors, dtype="F32"):
    """Minimal writer (used by --self-test). dtype: F32, F16 or BF16 (BF16 rounds to nearest even)."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype=np.float32)
        if dtype == "F32":
            raw = a.astype("<f4").tobytes()
        elif dtype == "F16":
            raw = a.astype("<f2").tobytes()
        elif dtype == "BF16":
            u32 = a.view(np.uint32).astype(np.uint64)
            rounded = (u32 + 0x7FFF + ((u32 >> 16) & 1)) >> 16
            raw = rounded.astype("<u2").tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(np.array([len(h)], dtype="<u8").tobytes())
        f.write(h)
        for b in blobs:
            f.write(b)


# ----------------------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------------------


class Config:
    def __init__(self, d):
        self.hidden_size = int(d["hidden_size"])
        self.intermediate_size = int(d["intermediate_size"])
        self.num_hidden_layers = int(d["num_hidden_layers"])
        self.num_attention_heads = int(d["num_attention_heads"])
        self.num_key_value_heads = int(d.get("num_key_value_heads") or self.num_attention_heads)
        self.rms_norm_eps = float(d.get("rms_norm_eps", 1e-6))
        self.rope_theta = float(d.get("rope_theta", 10000.0))
        self.vocab_size = int(d["vocab_size"])
        self.max_position_embeddings = int(d.get("max_position_embeddings", 2048))
        self.tie_word_embeddings = bool(d.get("tie_word_embeddings", False))
        self.attention_bias = bool(d.get("attention_bias", d.get("model_type") == "qwen2"))
        self.head_dim = int(d.get("head_dim") or self.hidden_size // self.num_attention_heads)
        self.rope_scaling = d.get("rope_scaling")
        act = d.get("hidden_act", "silu")
        if act not in ("silu", "swish"):
            raise ValueError(f"hidden_act {act!r} is not supported (only silu)")
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")


def rope_inv_freq(cfg):
    """HF's default inv_freq (float32), with the 'linear' and 'llama3' rope_scaling variants."""
    d = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    rs = cfg.rope_scaling
    if not rs:
        return inv_freq
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "default":
        return inv_freq
    if kind == "linear":
        return inv_freq / rs["factor"]
    if kind == "llama3":
        factor = rs["factor"]
        low_freq_factor = rs["low_freq_factor"]
        high_freq_factor = rs["high_freq_factor"]
        old_context_len = rs["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
        is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        return torch.where(is_medium, smoothed, inv_freq_llama)
    raise ValueError(f"rope_scaling type {kind!r} is not supported (default, linear, llama3)")


def rope_cos_sin(cfg, position_ids, dtype):
    """position_ids [B, T] -> cos, sin [B, T, head_dim], computed in float32 like HF, then cast."""
    inv_freq = rope_inv_freq(cfg).float()
    freqs = position_ids.float()[:, :, None] * inv_freq[None, None, :]  # == HF's [B,d/2,1]@[B,1,T] matmul
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((-x2, x1), dim=-1)


def rms_norm(x, w, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(variance + eps))


def repeat_kv(x, n_rep):
    """[B, n_kv, T, d] -> [B, n_kv * n_rep, T, d]; kv head j serves query heads j*n_rep .. j*n_rep+n_rep-1."""
    if n_rep == 1:
        return x
    b, n_kv, t, d = x.shape
    return x[:, :, None, :, :].expand(b, n_kv, n_rep, t, d).reshape(b, n_kv * n_rep, t, d)


def linear(x, w, b=None):
    y = x @ w.t()
    return y + b if b is not None else y


class Model:
    def __init__(self, cfg, tensors, dtype=torch.float64):
        self.cfg, self.dtype = cfg, dtype

        def get(name, shape, required=True):
            if name not in tensors:
                if required:
                    raise KeyError(f"checkpoint lacks tensor {name}")
                return None
            arr = tensors[name]
            if tuple(arr.shape) != tuple(shape):
                raise ValueError(f"tensor {name} has shape {list(arr.shape)}, config implies {list(shape)}")
            return torch.from_numpy(np.ascontiguousarray(arr)).to(dtype)

        h, i, v, d = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.head_dim
        nq, nkv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.embed = get("model.embed_tokens.weight", (v, h))
        self.layers = []
        for li in range(cfg.num_hidden_layers):
            p = f"model.layers.{li}."
            a = p + "self_attn."
            L = {
                "in_norm": get(p + "input_layernorm.weight", (h,)),
                "q": get(a + "q_proj.weight", (nq * d, h)),
                "k": get(a + "k_proj.weight", (nkv * d, h)),
                "v": get(a + "v_proj.weight", (nkv * d, h)),
                "o": get(a + "o_proj.weight", (h, nq * d)),
                "qb": get(a + "q_proj.bias", (nq * d,), cfg.attention_bias),
                "kb": get(a + "k_proj.bias", (nkv * d,), cfg.attention_bias),
                "vb": get(a + "v_proj.bias", (nkv * d,), cfg.attention_bias),
                "post_norm": get(p + "post_attention_layernorm.weight", (h,)),
                "gate": get(p + "mlp.gate_proj.weight", (i, h)),
                "up": get(p + "mlp.up_proj.weight", (i, h)),
                "down": get(p + "mlp.down_proj.weight", (h, i)),
            }
            self.layers.append(L)
        self.norm = get("model.norm.weight", (h,))
        lm = get("lm_head.weight", (v, h), required=False)
        if lm is None:
            if not cfg.tie_word_embeddings:
                raise KeyError("checkpoint lacks lm_head.weight and tie_word_embeddings is false")
            lm = self.embed
        self.lm_head = lm

    @torch.no_grad()
    def forward(self, input_ids, attention_mask, position_ids):
        """input_ids, attention_mask, position_ids: int64 [B, T]. Returns logits [B, T, V] in self.dtype."""
        cfg, dt = self.cfg, self.dtype
        b, t = input_ids.shape
        nq, nkv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        if int(input_ids.min()) < 0 or int(input_ids.max()) >= cfg.vocab_size:
            raise ValueError(f"input_ids out of range [0, {cfg.vocab_size})")

        cos, sin = rope_cos_sin(cfg, position_ids, dt)
        cos, sin = cos[:, None, :, :], sin[:, None, :, :]  # [B, 1, T, d]

        causal = torch.ones(t, t, dtype=torch.bool).tril()  # [q, k]
        allowed = causal[None, :, :] & attention_mask.bool()[:, None, :]  # [B, q, k]
        bias = torch.zeros(b, 1, t, t, dtype=dt).masked_fill(~allowed[:, None], float("-inf"))
        has_key = allowed.any(-1)[:, None, :, None]  # [B, 1, q, 1]
        scale = 1.0 / math.sqrt(d)

        x = self.embed[input_ids]  # [B, T, H]
        for L in self.layers:
            hs = rms_norm(x, L["in_norm"], cfg.rms_norm_eps)
            q = linear(hs, L["q"], L["qb"]).view(b, t, nq, d).transpose(1, 2)
            k = linear(hs, L["k"], L["kb"]).view(b, t, nkv, d).transpose(1, 2)
            v = linear(hs, L["v"], L["vb"]).view(b, t, nkv, d).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = repeat_kv(k, nq // nkv)
            v = repeat_kv(v, nq // nkv)
            scores = (q @ k.transpose(-1, -2)) * scale + bias
            probs = torch.softmax(scores, dim=-1)
            probs = torch.where(has_key, probs, torch.zeros_like(probs))  # rows with no visible key: 0, not NaN
            attn = (probs @ v).transpose(1, 2).reshape(b, t, nq * d)
            x = x + linear(attn, L["o"])
            hs = rms_norm(x, L["post_norm"], cfg.rms_norm_eps)
            mlp = linear(torch.nn.functional.silu(linear(hs, L["gate"])) * linear(hs, L["up"]), L["down"])
            x = x + mlp
        x = rms_norm(x, self.norm, cfg.rms_norm_eps)
        return linear(x, self.lm_head)


def default_position_ids(attention_mask):
    """HF generate(): cumsum(mask) - 1, with masked positions set to 1."""
    pos = attention_mask.long().cumsum(-1) - 1
    return pos.masked_fill(attention_mask == 0, 1)


def prepare_inputs(inp):
    ids = inp["input_ids"]
    if not ids or not all(isinstance(r, list) and r for r in ids) or len({len(r) for r in ids}) != 1:
        raise ValueError("input_ids must be a non-empty list of equal-length non-empty lists")
    input_ids = torch.tensor(ids, dtype=torch.int64)
    mask = inp.get("attention_mask")
    attention_mask = torch.ones_like(input_ids) if mask is None else torch.tensor(mask, dtype=torch.int64)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(f"attention_mask shape {list(attention_mask.shape)} != input_ids shape {list(input_ids.shape)}")
    pos = inp.get("position_ids")
    position_ids = default_position_ids(attention_mask) if pos is None else torch.tensor(pos, dtype=torch.int64)
    if position_ids.shape != input_ids.shape:
        raise ValueError(f"position_ids shape {list(position_ids.shape)} != input_ids shape {list(input_ids.shape)}")
    return input_ids, attention_mask, position_ids


def load_model(checkpoint_dir, dtype=torch.float64):
    with open(os.path.join(checkpoint_dir, "config.json")) as f:
        cfg = Config(json.load(f))
    return Model(cfg, load_checkpoint_tensors(checkpoint_dir), dtype)


def run(checkpoint_dir, input_path, output_path, dtype=torch.float64):
    model = load_model(checkpoint_dir, dtype)
    with open(input_path) as f:
        inp = json.load(f)
    input_ids, attention_mask, position_ids = prepare_inputs(inp)
    logits = model.forward(input_ids, attention_mask, position_ids)
    if not torch.isfinite(logits).all():
        raise RuntimeError("reference logits contain NaN or Inf")
    out = {
        "shape": list(logits.shape),
        "dtype": str(dtype).replace("torch.", ""),
        "attention_mask": attention_mask.tolist(),
        "position_ids": position_ids.tolist(),
        "logits": logits.double().tolist(),
    }
    tmp = output_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, output_path)


# ----------------------------------------------------------------------------------------------------------
# self-test
# ----------------------------------------------------------------------------------------------------------


def _random_checkpoint(rng, cfg_dict):
    c = Config(cfg_dict)
    h, i, v, d = c.hidden_size, c.intermediate_size, c.vocab_size, c.head_dim
    nq, nkv = c.num_attention_heads, c.num_key_value_heads

    def w(*shape, s=0.2):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    t = {"model.embed_tokens.weight": w(v, h, s=1.0), "model.norm.weight": 1 + w(h, s=0.1)}
    for li in range(c.num_hidden_layers):
        p, a = f"model.layers.{li}.", f"model.layers.{li}.self_attn."
        t[p + "input_layernorm.weight"] = 1 + w(h, s=0.1)
        t[p + "post_attention_layernorm.weight"] = 1 + w(h, s=0.1)
        t[a + "q_proj.weight"], t[a + "k_proj.weight"] = w(nq * d, h), w(nkv * d, h)
        t[a + "v_proj.weight"], t[a + "o_proj.weight"] = w(nkv * d, h), w(h, nq * d)
        if c.attention_bias:
            t[a + "q_proj.bias"], t[a + "k_proj.bias"], t[a + "v_proj.bias"] = w(nq * d), w(nkv * d), w(nkv * d)
        t[p + "mlp.gate_proj.weight"], t[p + "mlp.up_proj.weight"] = w(i, h), w(i, h)
        t[p + "mlp.down_proj.weight"] = w(h, i)
    if not c.tie_word_embeddings:
        t["lm_head.weight"] = w(v, h)
    return t


def _naive_forward(cfg, t, ids, pos):
    """Independent, loop-based float64 forward for one unpadded sequence (checks GQA mapping, RoPE halves)."""
    T = lambda n: torch.from_numpy(t[n]).double() if n in t else None
    d, nq, nkv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
    g = nq // nkv
    inv = rope_inv_freq(cfg).float()
    x = T("model.embed_tokens.weight")[torch.tensor(ids)]
    n = len(ids)

    def norm(v, w):
        return v / torch.sqrt((v * v).sum(-1, keepdim=True) / v.shape[-1] + cfg.rms_norm_eps) * w

    def rope(vec, p):  # vec [d]; pairs (j, j + d/2) rotated by angle p * inv_freq[j]
        ang = torch.tensor(float(p)).float() * inv  # float32 angles, as HF
        c, s = torch.cos(ang).double(), torch.sin(ang).double()
        a, b = vec[: d // 2], vec[d // 2:]
        return torch.cat((a * c - b * s, b * c + a * s))

    for li in range(cfg.num_hidden_layers):
        p, a = f"model.layers.{li}.", f"model.layers.{li}.self_attn."
        hs = norm(x, T(p + "input_layernorm.weight"))
        q = hs @ T(a + "q_proj.weight").t()
        k = hs @ T(a + "k_proj.weight").t()
        v = hs @ T(a + "v_proj.weight").t()
        if cfg.attention_bias:
            q, k, v = q + T(a + "q_proj.bias"), k + T(a + "k_proj.bias"), v + T(a + "v_proj.bias")
        out = torch.zeros(n, nq * d, dtype=torch.float64)
        for hq in range(nq):
            hk = hq // g
            for i in range(n):
                qi = rope(q[i, hq * d:(hq + 1) * d], pos[i])
                sc = torch.stack([qi @ rope(k[j, hk * d:(hk + 1) * d], pos[j]) / math.sqrt(d) for j in range(i + 1)])
                pr = torch.exp(sc - sc.max())
                pr = pr / pr.sum()
                out[i, hq * d:(hq + 1) * d] = sum(pr[j] * v[j, hk * d:(hk + 1) * d] for j in range(i + 1))
        x = x + out @ T(a + "o_proj.weight").t()
        hs = norm(x, T(p + "post_attention_layernorm.weight"))
        gt = hs @ T(p + "mlp.gate_proj.weight").t()
        x = x + ((gt / (1 + torch.exp(-gt))) * (hs @ T(p + "mlp.up_proj.weight").t())) @ T(p + "mlp.down_proj.weight").t()
    x = norm(x, T("model.norm.weight"))
    lm = T("lm_head.weight") if "lm_head.weight" in t else T("model.embed_tokens.weight")
    return x @ lm.t()


def self_test():
    import tempfile

    rng = np.random.default_rng(1234)
    failures = []

    def check(name, ok, detail=""):
        print(f"  {'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''}")
        if not ok:
            failures.append(name)

    configs = {
        "qwen2-like (GQA 4q/2kv, qkv bias, tied)": dict(
            hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1000000.0, vocab_size=61,
            max_position_embeddings=64, tie_word_embeddings=True, attention_bias=True, model_type="qwen2"),
        "llama-like (GQA 6q/2kv, no bias, untied lm_head)": dict(
            hidden_size=48, intermediate_size=80, num_hidden_layers=3, num_attention_heads=6,
            num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0, vocab_size=53,
            max_position_embeddings=64, tie_word_embeddings=False, attention_bias=False, model_type="llama"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label, cd in configs.items():
            print(label)
            ck = os.path.join(tmp, cd["model_type"])
            os.makedirs(ck)
            with open(os.path.join(ck, "config.json"), "w") as f:
                json.dump(cd, f)
            tensors = _random_checkpoint(rng, cd)
            write_safetensors(os.path.join(ck, "model.safetensors"), tensors)
            cfg = Config(cd)

            loaded = read_safetensors(os.path.join(ck, "model.safetensors"))
            check("safetensors F32 round trip", all(np.array_equal(loaded[k], tensors[k]) for k in tensors))
            for dt, tol in (("F16", 1e-3), ("BF16", 8e-3)):
                p = os.path.join(tmp, f"{cd['model_type']}_{dt}.safetensors")
                write_safetensors(p, tensors, dt)
                back = read_safetensors(p)
                if dt == "F16":
                    exact = all(np.array_equal(back[k], tensors[k].astype(np.float16).astype(np.float32)) for k in tensors)
                else:
                    exact = all(np.array_equal(back[k].view(np.uint32) & 0xFFFF, np.zeros_like(back[k], np.uint32))
                                for k in tensors)
                big = {k: np.abs(tensors[k]) >= 1e-2 for k in tensors}  # below that, f16 is subnormal
                rel = max(float(np.max(np.abs(back[k] - tensors[k])[big[k]] / np.abs(tensors[k])[big[k]])) for k in tensors)
                check(f"safetensors {dt} decode", exact and rel <= tol, f"max rel err {rel:.2e}")

            m64 = Model(cfg, loaded, torch.float64)
            m32 = Model(cfg, loaded, torch.float32)
            B, T = 3, 11
            ids = torch.from_numpy(rng.integers(0, cfg.vocab_size, size=(B, T))).long()
            ones = torch.ones_like(ids)
            pos = default_position_ids(ones)
            l64 = m64.forward(ids, ones, pos)
            l32 = m32.forward(ids, ones, pos)
            diff = float((l64 - l32.double()).abs().max())
            check("float32 vs float64", diff <= 1e-4, f"max abs diff {diff:.2e}, logit scale {float(l64.abs().max()):.2f}")

            naive = _naive_forward(cfg, loaded, ids[0].tolist(), list(range(T)))
            diff = float((naive - l64[0]).abs().max())
            check("vs loop-based naive forward (float64)", diff <= 1e-9, f"max abs diff {diff:.2e}")

            ids2 = ids.clone()
            ids2[:, -1] = (ids2[:, -1] + 1) % cfg.vocab_size
            l64b = m64.forward(ids2, ones, pos)
            diff = float((l64b[:, :-1] - l64[:, :-1]).abs().max())
            last = float((l64b[:, -1] - l64[:, -1]).abs().max())
            check("causality (change last token)", diff <= 1e-12 and last > 1e-6,
                  f"earlier max diff {diff:.2e}, last position diff {last:.2e}")

            # Padding: row 0 full length; row 1 left-padded by 4; row 2 right-padded by 3.
            n1, n2 = T - 4, T - 3
            pad_ids = ids.clone()
            mask = torch.ones_like(ids)
            pad_ids[1, :4] = 0
            pad_ids[1, 4:] = ids[1, :n1]
            mask[1, :4] = 0
            pad_ids[2, n2:] = 0
            mask[2, n2:] = 0
            pos_pad = default_position_ids(mask)
            check("default position ids",
                  pos_pad[1].tolist() == [1, 1, 1, 1] + list(range(n1)) and pos_pad[2].tolist() == list(range(n2)) + [1] * 3,
                  f"left {pos_pad[1].tolist()}, right {pos_pad[2].tolist()}")
            lp = m64.forward(pad_ids, mask, pos_pad)
            solo1 = m64.forward(ids[1:2, :n1], torch.ones(1, n1, dtype=torch.long), default_position_ids(torch.ones(1, n1)))
            solo2 = m64.forward(ids[2:3, :n2], torch.ones(1, n2, dtype=torch.long), default_position_ids(torch.ones(1, n2)))
            dl = float((lp[1, 4:] - solo1[0]).abs().max())
            dr = float((lp[2, :n2] - solo2[0]).abs().max())
            d0 = float((lp[0] - l64[0]).abs().max())
            check("left padding == unpadded", dl <= 1e-9, f"max abs diff {dl:.2e}")
            check("right padding == unpadded", dr <= 1e-9, f"max abs diff {dr:.2e}")
            check("unpadded row unaffected by batch", d0 <= 1e-9, f"max abs diff {d0:.2e}")
            check("all logits finite with padding", bool(torch.isfinite(lp).all()))

            shifted = m64.forward(ids, ones, pos + 5)
            diff = float((shifted - l64).abs().max())
            check("RoPE relative (positions + 5)", diff <= 1e-4, f"max abs diff {diff:.2e}")

            # End-to-end through the CLI path (JSON in/out, explicit position_ids override).
            inp_path, out_path = os.path.join(tmp, "in.json"), os.path.join(tmp, "out.json")
            with open(inp_path, "w") as f:
                json.dump({"input_ids": pad_ids.tolist(), "attention_mask": mask.tolist()}, f)
            run(ck, inp_path, out_path)
            with open(out_path) as f:
                out = json.load(f)
            got = torch.tensor(out["logits"], dtype=torch.float64)
            check("CLI json output", out["shape"] == [B, T, cfg.vocab_size] and float((got - lp).abs().max()) == 0.0
                  and out["position_ids"] == pos_pad.tolist())
            with open(inp_path, "w") as f:
                json.dump({"input_ids": pad_ids.tolist(), "attention_mask": mask.tolist(),
                           "position_ids": [list(range(0, 2 * T, 2))] * B}, f)  # not a shift of the default
            run(ck, inp_path, out_path)
            with open(out_path) as f:
                out = json.load(f)
            got = torch.tensor(out["logits"], dtype=torch.float64)
            want = m64.forward(pad_ids, mask, (2 * torch.arange(T)).expand(B, T))
            check("position_ids override", float((got - want).abs().max()) == 0.0
                  and out["position_ids"][0] == list(range(0, 2 * T, 2))
                  and float((got[0] - lp[0]).abs().max()) > 1e-6)

    print("PASS" if not failures else f"FAIL ({len(failures)}: {', '.join(failures)})")
    return 0 if not failures else 1


def main(argv):
    if len(argv) >= 1 and argv[0] == "--self-test":
        return self_test()
    dtype, threads, pos_args = torch.float64, None, []
    it = iter(argv)
    for a in it:
        if a == "--dtype":
            dtype = {"float64": torch.float64, "float32": torch.float32}[next(it)]
        elif a == "--threads":
            threads = int(next(it))
        else:
            pos_args.append(a)
    if len(pos_args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    if threads:
        torch.set_num_threads(threads)
    run(*pos_args, dtype=dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
