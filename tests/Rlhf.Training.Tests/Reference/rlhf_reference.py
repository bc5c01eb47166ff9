#!/usr/bin/python3
"""Reference numbers for the RLHF math in shared/Rlhf.Training (RlhfMath, AdaptiveKlController).

Every formula is written here independently of the C# code, the plain way: per-row Python loops over the
response positions, 1-D tensors of the masked entries, autograd for gradients. Inputs are drawn from a fixed
seed, include prompt and padding positions (the mask is 0 there, and the values there are garbage on purpose),
and are emitted together with the expected outputs as a C# source file, so the tests need no Python at run time.

Regenerate (Debian python3-torch 1.13, CPU):
    /usr/bin/python3 tests/Rlhf.Training.Tests/Reference/rlhf_reference.py \
        > tests/Rlhf.Training.Tests/Reference/ReferenceNumbers.cs
"""
import math
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(20240611)
torch.set_default_dtype(torch.float32)

# (B, T) token-level tensors in the aligned layout: entry t is the token t+1. Row 0: 2 prompt targets, 4 response
# tokens, 1 pad; row 1: 1 prompt target, 6 response tokens; row 2: 3 prompt targets, 2 response tokens, 2 pads.
MASK = torch.tensor([[0, 0, 1, 1, 1, 1, 0],
                     [0, 1, 1, 1, 1, 1, 1],
                     [0, 0, 0, 1, 1, 0, 0]], dtype=torch.float32)
B, T = MASK.shape
GARBAGE = 37.0  # written at every masked position of every input: it must never reach an output


def with_garbage(x):
    return torch.where(MASK.bool(), x, torch.full_like(x, GARBAGE))


LOGP = with_garbage(-3.0 * torch.rand(B, T))
LOGP_REF = with_garbage(-3.0 * torch.rand(B, T))
SCORES = torch.tensor([7.5, -0.3, -6.0])        # clipped to [-5, 5]: the first and last hit the clip
BETA = 0.05
SCORE_CLIP = 5.0
VALUES = with_garbage(torch.randn(B, T))
GAMMA, LAMBDA = 1.0, 0.95
GAMMA2, LAMBDA2 = 0.9, 0.8
CLIP_EPS = 0.2
VALUE_CLIP_EPS = 0.2


def response_positions(b):
    return [t for t in range(T) if MASK[b, t] > 0]


def kl_k1(logp, logp_ref):
    out = torch.zeros(B, T)
    for b in range(B):
        for t in response_positions(b):
            out[b, t] = logp[b, t] - logp_ref[b, t]
    return out


def kl_k3(logp, logp_ref):
    out = torch.zeros(B, T)
    for b in range(B):
        for t in response_positions(b):
            r = math.exp(float(logp_ref[b, t]) - float(logp[b, t]))  # p_ref / p
            out[b, t] = (r - 1.0) - math.log(r)
    return out


def shaped_rewards(kl, scores, beta, clip):
    out = torch.zeros(B, T)
    for b in range(B):
        positions = response_positions(b)
        for t in positions:
            out[b, t] = -beta * kl[b, t]
        out[b, positions[-1]] += max(-clip, min(clip, float(scores[b])))
    return out


def gae(rewards, values, gamma, lam):
    advantages = torch.zeros(B, T)
    returns = torch.zeros(B, T)
    for b in range(B):
        positions = response_positions(b)
        next_value, next_advantage = 0.0, 0.0   # the value after the last response token is 0
        for t in reversed(positions):
            delta = float(rewards[b, t]) + gamma * next_value - float(values[b, t])
            advantage = delta + gamma * lam * next_advantage
            advantages[b, t] = advantage
            returns[b, t] = advantage + float(values[b, t])
            next_value, next_advantage = float(values[b, t]), advantage
    return advantages, returns


def masked_entries(x):
    return x[MASK.bool()]


def whiten(x):
    v = masked_entries(x)
    out = torch.zeros(B, T)
    out[MASK.bool()] = (v - v.mean()) / torch.sqrt(v.var(unbiased=True) + 1e-8)
    return out


def policy_loss(logp_new, logp_old, advantages, eps):
    new = logp_new[MASK.bool()]
    old = logp_old[MASK.bool()]
    adv = advantages[MASK.bool()]
    ratio = torch.exp(new - old)
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1 - eps, 1 + eps)
    loss = torch.max(unclipped, clipped).mean()
    clip_fraction = (clipped > unclipped).float().mean()
    approx_kl = ((ratio - 1) - torch.log(ratio)).mean()
    return loss, clip_fraction, approx_kl


def value_loss(values, old_values, returns, eps):
    v = values[MASK.bool()]
    old = old_values[MASK.bool()]
    ret = returns[MASK.bool()]
    v_clipped = old + torch.clamp(v - old, -eps, eps)
    unclipped = (v - ret) ** 2
    clipped = (v_clipped - ret) ** 2
    loss = 0.5 * torch.max(unclipped, clipped).mean()
    clip_fraction = (clipped > unclipped).float().mean()
    return loss, clip_fraction


def explained_variance(values, returns):
    v = masked_entries(values)
    r = masked_entries(returns)
    return 1 - (r - v).var(unbiased=True) / r.var(unbiased=True)


# --- KL, rewards, GAE, whitening ---
K1 = kl_k1(LOGP, LOGP_REF)
K3 = kl_k3(LOGP, LOGP_REF)
REWARDS = shaped_rewards(K1, SCORES, BETA, SCORE_CLIP)
REWARDS_K3 = shaped_rewards(K3, SCORES, BETA, SCORE_CLIP)
ADV, RET = gae(REWARDS, VALUES, GAMMA, LAMBDA)
ADV2, RET2 = gae(REWARDS, VALUES, GAMMA2, LAMBDA2)
ADV_W = whiten(ADV)
MEAN = masked_entries(VALUES).mean()
VAR = masked_entries(VALUES).var(unbiased=True)
EV = explained_variance(VALUES, RET)

# --- clipped losses and their gradients ---
LOGP_NEW = with_garbage(torch.where(MASK.bool(), LOGP + 0.3 * torch.randn(B, T), LOGP))
logp_new = LOGP_NEW.clone().requires_grad_(True)
PG_LOSS, PG_CLIPFRAC, APPROX_KL = policy_loss(logp_new, LOGP, ADV_W, CLIP_EPS)
PG_LOSS.backward()
PG_GRAD = logp_new.grad.clone()

NEW_VALUES = with_garbage(torch.where(MASK.bool(), VALUES + 0.4 * torch.randn(B, T), VALUES))
new_values = NEW_VALUES.clone().requires_grad_(True)
V_LOSS, V_CLIPFRAC = value_loss(new_values, VALUES, RET, VALUE_CLIP_EPS)
V_LOSS.backward()
V_GRAD = new_values.grad.clone()

# --- next-token NLL (SFT and PTX): logits over S positions, targets are response tokens only ---
NLL_V = 6
NLL_IDS = torch.tensor([[1, 2, 3, 4, 5, 0],
                        [3, 3, 1, 0, 0, 0]])
NLL_RESPONSE = torch.tensor([[0, 0, 1, 1, 1, 0],   # prompt 2, response 3, pad 1
                             [0, 1, 1, 0, 0, 0]])  # prompt 1, response 2, pad 3
NLL_LOGITS = torch.randn(2, NLL_IDS.shape[1], NLL_V)
token_nll = F.cross_entropy(NLL_LOGITS[:, :-1].reshape(-1, NLL_V), NLL_IDS[:, 1:].reshape(-1), reduction="none")
NLL = token_nll[NLL_RESPONSE[:, 1:].reshape(-1).bool()].mean()

# --- K-wise reward-model loss with ties: tiers best-first (0 = best); equal tiers form no pair ---
RM_TIERS = [[0, 1, 1, 2], [0, 0, 1], [1, 0], [0, 0]]   # the last ranking is all tied: no pair, not in the mean
RM_REWARDS = torch.randn(sum(len(r) for r in RM_TIERS))
rm_losses, rm_correct, rm_pairs = [], 0, 0
offset = 0
for tiers in RM_TIERS:
    terms = []
    for i in range(len(tiers)):
        for j in range(len(tiers)):
            if tiers[i] < tiers[j]:
                diff = RM_REWARDS[offset + i] - RM_REWARDS[offset + j]
                terms.append(F.logsigmoid(diff))
                rm_correct += int(diff > 0)
                rm_pairs += 1
    if terms:
        rm_losses.append(-torch.stack(terms).mean())
    offset += len(tiers)
RM_LOSS = torch.stack(rm_losses).mean()
RM_ACCURACY = rm_correct / rm_pairs

# --- adaptive KL controller (Ziegler et al. 2019) ---
KL_INITIAL, KL_TARGET, KL_HORIZON = 0.05, 6.0, 1000.0
KL_OBSERVED = [12.0, 3.0, 6.5, 0.5, 20.0, 6.0]
KL_SAMPLES = [64, 64, 128, 32, 256, 64]
beta = KL_INITIAL
KL_BETAS = []
for kl, n in zip(KL_OBSERVED, KL_SAMPLES):
    error = max(-0.2, min(0.2, kl / KL_TARGET - 1))
    beta = beta * (1 + error * n / KL_HORIZON)
    KL_BETAS.append(beta)

# --- pointwise reward-model loss of single ratings (drawn last, so the numbers above do not move) ---
# stars s -> target (s - 1) / 4; thumbs down 0, up 1. Loss per rating: -(y log sigmoid(r) + (1 - y) log(1 - sigmoid(r))),
# written with the plain sigmoid and log (not F.binary_cross_entropy_with_logits), averaged.
PW_TARGETS = torch.tensor([1.0, 0.0, 0.75, 0.25, 1.0, 0.5, 0.0])
PW_REWARDS = (torch.randn(len(PW_TARGETS)) * 2).requires_grad_(True)
pw_terms = []
for r, y in zip(PW_REWARDS, PW_TARGETS):
    p = torch.sigmoid(r)
    pw_terms.append(-(y * torch.log(p) + (1 - y) * torch.log(1 - p)))
PW_LOSS = torch.stack(pw_terms).mean()
PW_LOSS.backward()
PW_GRAD = PW_REWARDS.grad.clone()
pw_decisive = [(r.item(), y.item()) for r, y in zip(PW_REWARDS, PW_TARGETS) if y.item() != 0.5]
PW_ACCURACY = sum(1 for r, y in pw_decisive if (r > 0) == (y > 0.5)) / len(pw_decisive)
# mixed: w_rank * K-wise loss of RM_TIERS on RM_REWARDS + w_point * pointwise loss, the ratings after the rankings
MIX_RANK_WEIGHT, MIX_POINT_WEIGHT = 1.0, 0.5
MIX_LOSS = MIX_RANK_WEIGHT * RM_LOSS + MIX_POINT_WEIGHT * PW_LOSS


# --- emit C# ---
def floats(x):
    values = x.reshape(-1).tolist() if torch.is_tensor(x) else list(x)
    return "[" + ", ".join(f"{v:.9g}f" for v in values) + "]"


def longs(x):
    return "[" + ", ".join(str(int(v)) for v in x.reshape(-1).tolist()) + "]"


def doubles(values):
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


def scalar(x):
    return f"{float(x):.9g}"


def shape(x):
    return "[" + ", ".join(str(d) for d in x.shape) + "]"


out = []
w = out.append
w("// <auto-generated>")
w("// Written by Reference/rlhf_reference.py (PyTorch " + torch.__version__ + "); do not edit. Regenerate:")
w("//   /usr/bin/python3 tests/Rlhf.Training.Tests/Reference/rlhf_reference.py > tests/Rlhf.Training.Tests/Reference/ReferenceNumbers.cs")
w("// </auto-generated>")
w("namespace Rlhf.Training.Tests.Reference;")
w("")
w("static class ReferenceNumbers")
w("{")
w(f"    public static readonly long[] Shape = {shape(MASK)};")
w(f"    public const float Garbage = {GARBAGE}f;")
w(f"    public static readonly float[] Mask = {floats(MASK)};")
w(f"    public static readonly float[] LogProbs = {floats(LOGP)};")
w(f"    public static readonly float[] RefLogProbs = {floats(LOGP_REF)};")
w(f"    public static readonly float[] Scores = {floats(SCORES)};")
w(f"    public const double Beta = {BETA};")
w(f"    public const double ScoreClip = {SCORE_CLIP};")
w(f"    public static readonly float[] Values = {floats(VALUES)};")
w(f"    public const double Gamma = {GAMMA}, Lambda = {LAMBDA}, Gamma2 = {GAMMA2}, Lambda2 = {LAMBDA2};")
w(f"    public const double ClipEps = {CLIP_EPS}, ValueClipEps = {VALUE_CLIP_EPS};")
w(f"    public static readonly float[] KlK1 = {floats(K1)};")
w(f"    public static readonly float[] KlK3 = {floats(K3)};")
w(f"    public static readonly float[] Rewards = {floats(REWARDS)};")
w(f"    public static readonly float[] RewardsK3 = {floats(REWARDS_K3)};")
w(f"    public static readonly float[] Advantages = {floats(ADV)};")
w(f"    public static readonly float[] Returns = {floats(RET)};")
w(f"    public static readonly float[] Advantages2 = {floats(ADV2)};")
w(f"    public static readonly float[] Returns2 = {floats(RET2)};")
w(f"    public static readonly float[] WhitenedAdvantages = {floats(ADV_W)};")
w(f"    public const float ValuesMaskedMean = {scalar(MEAN)}f;")
w(f"    public const float ValuesMaskedVar = {scalar(VAR)}f;")
w(f"    public const float ExplainedVariance = {scalar(EV)}f;")
w(f"    public static readonly float[] NewLogProbs = {floats(LOGP_NEW)};")
w(f"    public const float PolicyLoss = {scalar(PG_LOSS)}f;")
w(f"    public const float PolicyClipFraction = {scalar(PG_CLIPFRAC)}f;")
w(f"    public const float ApproxKl = {scalar(APPROX_KL)}f;")
w(f"    public static readonly float[] PolicyLossGrad = {floats(PG_GRAD)};")
w(f"    public static readonly float[] NewValues = {floats(NEW_VALUES)};")
w(f"    public const float ValueLoss = {scalar(V_LOSS)}f;")
w(f"    public const float ValueClipFraction = {scalar(V_CLIPFRAC)}f;")
w(f"    public static readonly float[] ValueLossGrad = {floats(V_GRAD)};")
w(f"    public static readonly long[] NllShape = {shape(NLL_LOGITS)};")
w(f"    public static readonly long[] NllIds = {longs(NLL_IDS)};")
w(f"    public static readonly long[] NllResponseMask = {longs(NLL_RESPONSE)};")
w(f"    public static readonly float[] NllLogits = {floats(NLL_LOGITS)};")
w(f"    public const float Nll = {scalar(NLL)}f;")
w("    public static readonly int[][] RankingTiers = [" + ", ".join("[" + ", ".join(map(str, r)) + "]" for r in RM_TIERS) + "];")
w(f"    public static readonly float[] RankingRewards = {floats(RM_REWARDS)};")
w(f"    public const float RankingLoss = {scalar(RM_LOSS)}f;")
w(f"    public const int RankingPairCount = {rm_pairs};")
w(f"    public const double RankingAccuracy = {RM_ACCURACY!r};")
w(f"    public static readonly float[] PointwiseTargets = {floats(PW_TARGETS)};")
w(f"    public static readonly float[] PointwiseRewards = {floats(PW_REWARDS.detach())};")
w(f"    public const float PointwiseLoss = {scalar(PW_LOSS)}f;")
w(f"    public static readonly float[] PointwiseLossGrad = {floats(PW_GRAD)};")
w(f"    public const double PointwiseAccuracy = {PW_ACCURACY!r};")
w(f"    public const double MixedRankingWeight = {MIX_RANK_WEIGHT}, MixedPointwiseWeight = {MIX_POINT_WEIGHT};")
w(f"    public const float MixedLoss = {scalar(MIX_LOSS)}f;")
w(f"    public const double KlInitial = {KL_INITIAL}, KlTarget = {KL_TARGET}, KlHorizon = {KL_HORIZON};")
w(f"    public static readonly double[] KlObserved = {doubles(KL_OBSERVED)};")
w("    public static readonly int[] KlSamples = [" + ", ".join(map(str, KL_SAMPLES)) + "];")
w(f"    public static readonly double[] KlBetas = {doubles(KL_BETAS)};")
w("}")
sys.stdout.write("\n".join(out) + "\n")
