using Microsoft.Extensions.Logging.Abstractions;
using Rlhf.Contracts;
using Rlhf.Reward.Journal;
using Rlhf.Storage;

namespace Rlhf.Reward.Tests;

/// <summary>Feedback's rollout ids become token-id rankings from the rollout store; expired rollouts are left out and counted.</summary>
public sealed class RankingResolverTests
{
    readonly InMemoryRolloutStore store = new(TimeSpan.FromHours(1), TimeProvider.System);
    readonly RewardStats stats = new();

    RankingResolver Resolver() => new(store, stats, NullLogger<RankingResolver>.Instance);

    async Task<RolloutGenerated[]> StoreAsync(params int[][] responses)
    {
        var rollouts = responses.Select((tokens, i) => new RolloutGenerated(Guid.NewGuid(), "g", i, responses.Length, 0, "p", [7, 8], "r", tokens,
            [.. tokens.Select(_ => -1f)], "stop", new SamplingParameters(1, 1, 0, 8, null, []), "tests", null, DateTimeOffset.UnixEpoch)).ToArray();
        await store.SaveGroupAsync(rollouts, TestContext.Current.CancellationToken);
        return rollouts;
    }

    [Fact]
    public async Task Tiers_of_stored_rollouts_become_a_ranking_of_their_tokens()
    {
        var r = await StoreAsync([1], [2], [3]);

        var ranking = await Resolver().ResolveAsync("g", [[r[2].RolloutId], [r[0].RolloutId, r[1].RolloutId]], TestContext.Current.CancellationToken);

        Assert.NotNull(ranking);
        Assert.Equal([7, 8], ranking.PromptTokenIds);
        Assert.Equal([(3, 0), (1, 1), (2, 1)], ranking.Responses.Select(x => (x.TokenIds[0], x.Tier)));
        Assert.Equal(0, stats.MissingRollouts);
    }

    [Fact]
    public async Task Expired_rollouts_are_left_out_and_a_ranking_needs_two_tiers_left()
    {
        var r = await StoreAsync([1], [2]);
        var expired = Guid.NewGuid();

        var partial = await Resolver().ResolveAsync("g", [[r[0].RolloutId], [expired], [r[1].RolloutId]], TestContext.Current.CancellationToken);
        var single = await Resolver().ResolveAsync("g", [[r[0].RolloutId], [expired]], TestContext.Current.CancellationToken);

        Assert.Equal([(1, 0), (2, 2)], partial!.Responses.Select(x => (x.TokenIds[0], x.Tier)));
        Assert.Null(single);
        Assert.Equal(2, stats.MissingRollouts);
    }
}
