namespace Rlhf.Demo.Studies;

/// <summary>Where a study runs: its size, seeds, the bootstrap cache and a progress log.</summary>
public sealed record StudyContext(StudySize Size, IReadOnlyList<int> Seeds, string CacheRoot, Action<string> Log)
{
    /// <summary>The cached bootstrap for <paramref name="options"/> (trained first when missing), logged.</summary>
    public BootstrapResult Bootstrap(BootstrapOptions options)
    {
        var result = Bootstrapper.LoadOrTrain(options, CacheRoot,
            p => { if (p.Step % 100 == 0 || p.Step == p.Steps) Log($"  bootstrap step {p.Step}/{p.Steps} loss {p.Loss:F3} {p.Elapsed.TotalSeconds:F0} s"); });
        Log($"bootstrap {options.Hash()} ({result.Report.Parameters / 1e6:F2}M parameters, {(result.Reused ? "cached" : "trained")}, " +
            $"{result.Report.TrainingSeconds:F0} s): held-out greedy {result.Report.HeldOut.GreedyAccuracy:P1}");
        return result;
    }
}
