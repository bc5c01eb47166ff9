using Rlhf.Demo.Studies;
using Rlhf.Modeling;

namespace Rlhf.Demo.Tests;

/// <summary>The studies' parts: spreads over seeds, what SFT takes from a judgement, and that a run repeats from its seed.</summary>
public sealed class StudyTests
{
    [Fact]
    public void Spread_is_the_mean_and_sample_standard_deviation()
    {
        var spread = Spread.Of([0.5, 0.6, 0.7, 1.0]);
        Assert.Equal(0.7, spread.Mean, 12);
        Assert.Equal(Math.Sqrt((0.04 + 0.01 + 0 + 0.09) / 3), spread.StandardDeviation, 12);
        Assert.Equal((0.5, 1.0, 4), (spread.Min, spread.Max, spread.Count));
        Assert.Equal("70.0 % ± 21.6", spread.Format(percent: true));
        Assert.Equal("0.568", Spread.Of([0.568]).Format(percent: false));
        Assert.Throws<ArgumentException>(() => Spread.Of([]));
    }

    [Fact]
    public void Sft_takes_the_top_of_a_ranking_the_chosen_of_a_pair_and_only_a_thumb_up()
    {
        Assert.Equal(2, FeedbackSft.PreferredCandidate(new RankingFeedback("r", [[2, 0], [1], [3]])));
        Assert.Equal(3, FeedbackSft.PreferredCandidate(new PairwiseFeedback("r", Chosen: 3, Rejected: 1)));
        Assert.Equal(1, FeedbackSft.PreferredCandidate(new RatingFeedback("r", Candidate: 1, Thumbs: 1)));
        Assert.Null(FeedbackSft.PreferredCandidate(new RatingFeedback("r", Candidate: 1, Thumbs: 0)));
    }

    [Fact]
    public void Unknown_study_or_size_names_the_known_ones()
    {
        Assert.Contains("sft-vs-rlhf, forgetting, data, scale, peft", Assert.Throws<ArgumentException>(() => StudyCatalog.Find("vibes")).Message);
        Assert.Contains("default, small, ci", Assert.Throws<ArgumentException>(() => StudySize.Parse("huge")).Message);
    }

    [Fact]
    public void Sft_on_feedback_repeats_exactly_from_its_seed_and_moves_the_weights()
    {
        TorchRuntime.SetThreads(1);
        var cache = Path.Combine(Path.GetTempPath(), $"rlhf-study-tests-{Guid.NewGuid():N}");
        try
        {
            var size = StudySize.Ci;
            var bootstrap = Bootstrapper.LoadOrTrain(size.Bootstrap, cache);
            var probe = new PolicyProbe(bootstrap.Split.HeldOut, size.MaxNewTokens);
            double before;
            using (var start = bootstrap.LoadPolicy())
                before = probe.FactNll(start);

            double After(int seed)
            {
                using var sft = new FeedbackSft(bootstrap, size.Loop(seed), SftTarget.Demonstrated);
                var curve = sft.Run(cancellationToken: TestContext.Current.CancellationToken);
                Assert.Equal([0, 4, 8], curve.Select(p => p.Judgements));
                return probe.FactNll(sft.Policy);
            }

            var first = After(seed: 1);
            Assert.Equal(first, After(seed: 1));
            Assert.NotEqual(before, first);
            Assert.NotEqual(first, After(seed: 2));
        }
        finally
        {
            if (Directory.Exists(cache))
                Directory.Delete(cache, recursive: true);
        }
    }
}
