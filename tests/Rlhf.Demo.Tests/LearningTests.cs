using Rlhf.Modeling;

namespace Rlhf.Demo.Tests;

/// <summary>
/// The demo task's proof of learning on a reduced budget: a shorter bootstrap, then the offline loop over the real
/// trainers (sample, simulated labelers with 10% noise, reward model, PPO) until 90% or a handful of rounds; held-out
/// greedy accuracy must rise by at least 20 points. Fixed seeds; about 2-3 minutes on 2 cores.
/// </summary>
public sealed class LearningTests(ITestOutputHelper output)
{
    /// <summary>
    /// Shared with the end-to-end demo test (same settings, same hash): whichever runs first trains it, the other waits
    /// on the bootstrap's lock and reuses it. A clean machine (CI) trains it once per run.
    /// </summary>
    static readonly string Cache = Path.Combine(Path.GetTempPath(), "rlhf-test-bootstrap-cache");

    [Fact]
    public void Feedback_raises_held_out_accuracy_by_at_least_20_points()
    {
        TorchRuntime.SetThreads(1);
        var bootstrap = Bootstrapper.LoadOrTrain(new BootstrapOptions { Steps = ReducedBootstrapSteps }, Cache);
        output.WriteLine($"bootstrap: greedy {bootstrap.Report.HeldOut.GreedyAccuracy:P1}, knowledge {bootstrap.Report.KnowledgeAccuracy:P1}, {bootstrap.Report.TrainingSeconds:F0} s");
        Assert.InRange(bootstrap.Report.HeldOut.GreedyAccuracy, 0.0, 0.65);

        using var loop = new OfflineLoop(bootstrap, new LoopOptions { Seed = 1, TargetAccuracy = 0.9, MaxRounds = 6 });
        var result = loop.Run(cancellationToken: TestContext.Current.CancellationToken, onRound: r => output.WriteLine(
            $"round {r.Round}: rankings {r.Rankings}, greedy {r.HeldOutGreedy:P1}, sampled {r.HeldOutSampled:P1}, RM score {r.MeanRmScore:F2}, KL {r.Kl:F2}, {r.ElapsedSeconds:F0} s"));

        var rise = result.End.HeldOutGreedy - result.Start.HeldOutGreedy;
        Assert.True(rise >= 0.20, $"held-out greedy accuracy rose by {rise:P1} ({result.Start.HeldOutGreedy:P1} -> {result.End.HeldOutGreedy:P1}), expected >= 20 points");
        Assert.True(result.End.Rankings > 0);
        Assert.InRange(result.End.Kl, -0.1, 5.0);
        Assert.True(result.End.HeldOutSampled > result.Start.HeldOutSampled, "sampled accuracy at the serving temperature rose too");
    }

    /// <summary>Fewer steps than the default bootstrap (CI time); still past the point where the facts are known.</summary>
    const int ReducedBootstrapSteps = 400;
}
