using Rlhf.Modeling;

[assembly: AssemblyFixture(typeof(Rlhf.Learner.Tests.SingleThreadedTorch))]

namespace Rlhf.Learner.Tests;

/// <summary>One LibTorch intra-op thread for the whole assembly: the models are tiny, and idle OpenMP threads slow a busy 2-core machine.</summary>
public sealed class SingleThreadedTorch
{
    public SingleThreadedTorch() => TorchRuntime.SetThreads(1);
}
