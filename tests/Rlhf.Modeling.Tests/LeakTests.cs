using System.Diagnostics;
using Rlhf.Modeling.Generation;
using TorchSharp;

namespace Rlhf.Modeling.Tests;

public sealed class LeakTests
{
    [Fact]
    public void A_thousand_generate_calls_leave_no_live_tensors_behind()
    {
        using var model = TinyModels.Policy();
        var requests = new[]
        {
            new GenerationRequest([1, 2, 3], new SamplingOptions(MaxNewTokens: 4, Temperature: 1.0, TopK: 10, TopP: 0.9, Seed: 1)),
            new GenerationRequest([4, 5], SamplingOptions.Greedy(4)),
        };
        for (var i = 0; i < 20; i++)
            Sampler.Generate(model, requests, [], 0);
        // Counted on this thread and without a GC: a tensor left to the finalizer counts as leaked.
        var statistics = DisposeScopeManager.Statistics;
        var liveBefore = statistics.ThreadTotalLiveCount;
        var rssBefore = Process.GetCurrentProcess().WorkingSet64;

        for (var i = 0; i < 1000; i++)
            Sampler.Generate(model, requests, [], 0);

        var liveAfter = statistics.ThreadTotalLiveCount;
        var rssAfter = Process.GetCurrentProcess().WorkingSet64;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"live tensors {liveBefore} -> {liveAfter}; RSS {rssBefore / 1048576.0:F1} -> {rssAfter / 1048576.0:F1} MiB");
        Assert.Equal(liveBefore, liveAfter);
        Assert.True(rssAfter - rssBefore < 64L * 1024 * 1024, $"RSS grew by {(rssAfter - rssBefore) / 1048576.0:F1} MiB over 1,000 calls");
    }
}
