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
        // Counted on this thread and without a GC: a tensor left to the finalizer counts as leaked. RSS is process-wide
        // and is measured in a process of its own (Rlhf.Cli.Tests' SoakTests, rlhf bench soak).
        var statistics = DisposeScopeManager.Statistics;
        var liveBefore = statistics.ThreadTotalLiveCount;

        for (var i = 0; i < 1000; i++)
            Sampler.Generate(model, requests, [], 0);

        var liveAfter = statistics.ThreadTotalLiveCount;
        Assert.Equal(liveBefore, liveAfter);
    }
}
