using Rlhf.Modeling;

[assembly: AssemblyFixture(typeof(Rlhf.Training.Tests.SingleThreadedTorch))]

namespace Rlhf.Training.Tests;

/// <summary>
/// Runs LibTorch on one intra-op thread for the whole test assembly. The test models are tiny (hidden 32), so a
/// second thread buys nothing, and on a busy 2-core machine OpenMP's waiting threads made PPO steps ~15x slower
/// (measured: 0.5 s vs 8 s per toy step under load).
/// </summary>
public sealed class SingleThreadedTorch
{
    public SingleThreadedTorch() => TorchRuntime.SetThreads(1);
}
