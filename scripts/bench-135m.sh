#!/usr/bin/env bash
# The table of README "The loop at 135M scale": on a SmolLM2-135M-shaped model (its real config, random weights) decode
# tokens/s at batch 1 and 16, one PPO step, one reward-model step, and learner publish -> every generation replica
# serving for full weights (~540 MB) and for a rank-8 LoRA adapter, all with the `rlhf bench` commands, one after the
# other in this one invocation. Sync uses Redis on localhost:6379 as deployed (scripts/infra.sh up). The output is also
# written to TestResults/bench-135m.log. Extra arguments go to every command (e.g. --threads 2).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p TestResults
{
  echo "bench-135m: $(date -u '+%Y-%m-%d %H:%M:%S') UTC, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  ./rlhf bench decode --model smollm2-135m --batch 1 16 --runs 2 "$@"
  ./rlhf bench ppo --model smollm2-135m "$@"
  ./rlhf bench rm --model smollm2-135m --steps 2 "$@"
  ./rlhf bench sync --model smollm2-135m --lora-rank 8 "$@"
  echo "bench-135m: done $(date -u '+%Y-%m-%d %H:%M:%S') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee TestResults/bench-135m.log
