#!/usr/bin/env bash
# Full test run, as CI does it (.ci/run calls this):
#   1. scripts/infra.sh up  (installs/starts RabbitMQ + Redis on localhost if needed)
#   2. dotnet test Services.sln "$@"   (output streamed and saved to TestResults/test.log)
#   3. a summary summed over all test assemblies, last line:
#        Tests: N passed, N failed, N skipped
# Exit status is non-zero if dotnet test failed, any test failed, or no test ran.
# Extra arguments go to `dotnet test`, e.g.  scripts/test.sh --filter "Category!=Slow"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/infra.sh up

export RLHF_TEST_RABBITMQ="${RLHF_TEST_RABBITMQ:-amqp://guest:guest@localhost:${RABBITMQ_PORT:-5672}/}"
export RLHF_TEST_REDIS="${RLHF_TEST_REDIS:-localhost:${REDIS_PORT:-6379}}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

mkdir -p TestResults
LOG="${TEST_LOG:-$ROOT/TestResults/test.log}"

# Parity tests compute reference logits with Debian's python3-torch (tests/Rlhf.Modeling.Tests/Reference).
# Install it when missing; if that fails, carry on: those tests then fail and say why (they never skip).
export RLHF_PYTHON="${RLHF_PYTHON:-/usr/bin/python3}"
if ! "$RLHF_PYTHON" -c 'import torch, numpy' >/dev/null 2>&1; then
  echo "test: $RLHF_PYTHON lacks torch/numpy; apt-get install python3-torch python3-numpy (~75 s, log: TestResults/apt-python.log)"
  apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-torch python3-numpy >>TestResults/apt-python.log 2>&1; }
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || ! apt_install; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >>TestResults/apt-python.log 2>&1 || true
    apt_install || echo "test: python3-torch install failed (see TestResults/apt-python.log); Python reference tests will fail"
  fi
fi
# Tools some tests run: docker-compose (its `config` checks docker-compose.yml without a Docker engine) and kubectl (its
# kustomize renders deploy/k8s) for tests/Rlhf.Deploy.Tests; Debian's Prometheus (promtool, a real scrape) and
# headless Chromium for the observability tests. Installed when missing, like python3-torch; if that fails, those
# tests fail and say why (they never skip). Debian's prometheus package starts a system Prometheus where an init
# system runs; the tests start their own on free ports.
missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v kubectl >/dev/null 2>&1 || missing+=(kubectl)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "test: installing ${missing[*]} (log: TestResults/apt-tools.log)"
  tools_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>TestResults/apt-tools.log 2>&1; }
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || ! tools_install; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >>TestResults/apt-tools.log 2>&1 || true
    tools_install || echo "test: installing ${missing[*]} failed (see TestResults/apt-tools.log); the tests that run them will fail"
  fi
fi
echo "test: RLHF_TEST_RABBITMQ=$RLHF_TEST_RABBITMQ RLHF_TEST_REDIS=$RLHF_TEST_REDIS"
echo "test: dotnet test Services.sln $* (log: $LOG)"

set +e
dotnet test Services.sln "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e

# VSTest prints one line per test assembly:
#   Passed!  - Failed:     0, Passed:    12, Skipped:     0, Total:    12, Duration: 3 s - X.Tests.dll (net10.0)
#   Failed!  - Failed:     1, Passed:    11, Skipped:     0, Total:    12, Duration: ...
# (Microsoft.Testing.Platform prints "total: N, failed: N, succeeded: N, skipped: N" instead; summed as a fallback.)
read -r passed failed skipped assemblies < <(
  sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' "$LOG" | awk '
    function num(s, key,   r) {
      if (match(s, key "[: ]+[0-9]+")) { r = substr(s, RSTART, RLENGTH); gsub(/[^0-9]/, "", r); return r + 0 }
      return 0
    }
    /(Passed|Failed)! +- +Failed: +[0-9]+, +Passed: +[0-9]+, +Skipped: +[0-9]+/ {
      vf += num($0, "Failed:"); vp += num($0, "Passed:"); vs += num($0, "Skipped:"); va++; next
    }
    /total: *[0-9]+, *failed: *[0-9]+, *succeeded: *[0-9]+, *skipped: *[0-9]+/ {
      mf += num($0, "failed:"); mp += num($0, "succeeded:"); ms += num($0, "skipped:"); ma++
    }
    END {
      if (va > 0) print vp + 0, vf + 0, vs + 0, va + 0
      else        print mp + 0, mf + 0, ms + 0, ma + 0
    }')

status=0
if [ "$rc" -ne 0 ]; then echo "test: dotnet test exited with $rc"; status=1; fi
if [ "$failed" -gt 0 ]; then echo "test: $failed test(s) failed"; status=1; fi
if [ $((passed + failed + skipped)) -eq 0 ]; then echo "test: no tests ran"; status=1; fi
echo "test: $assemblies test assembl$([ "$assemblies" -eq 1 ] && echo y || echo ies) reported; log: $LOG"
echo "Tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
