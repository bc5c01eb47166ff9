using Rlhf.Contracts;

namespace Rlhf.Storage.Tests;

/// <summary>What every <see cref="ILiveFeedbackStore"/> does; run against the in-memory twin and real Redis.</summary>
public abstract class LiveFeedbackStoreContract
{
    protected abstract ILiveFeedbackStore CreateStore();

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Judgements_add_up_per_canary_and_version()
    {
        var store = CreateStore();

        Assert.True(await store.AddAsync(5, 5, Guid.NewGuid(), new LiveJudgement(1, Thumb: 1), Cancel));
        Assert.True(await store.AddAsync(5, 5, Guid.NewGuid(), new LiveJudgement(0, Thumb: 0), Cancel));
        Assert.True(await store.AddAsync(5, 5, Guid.NewGuid(), new LiveJudgement(0.75, Stars: 4), Cancel));
        Assert.True(await store.AddAsync(5, 5, Guid.NewGuid(), new LiveJudgement(0.5, RankPosition: 0.5), Cancel));
        Assert.True(await store.AddAsync(5, 4, Guid.NewGuid(), new LiveJudgement(1, Thumb: 1), Cancel));
        Assert.True(await store.AddAsync(6, 5, Guid.NewGuid(), new LiveJudgement(1, Thumb: 1), Cancel));

        var canary = await store.GetAsync(5, 5, Cancel);
        Assert.Equal(new LiveFeedback(5, 4, 2.25, 1 + 0.5625 + 0.25, 1, 2, 4, 1, 0.5, 1), canary);
        Assert.Equal(0.5625, canary.MeanScore);
        Assert.Equal(0.5, canary.ThumbsUpRate);
        Assert.Equal(4.0, canary.MeanStars);
        Assert.Equal(0.5, canary.MeanRankPosition);
        Assert.Equal(1, (await store.GetAsync(5, 4, Cancel)).Judgements);
        Assert.Equal(1, (await store.GetAsync(6, 5, Cancel)).Judgements);
        Assert.Equal(LiveFeedback.Empty(9), await store.GetAsync(5, 9, Cancel));
        Assert.Null(LiveFeedback.Empty(9).MeanScore);
    }

    [Fact]
    public async Task The_same_feedback_counts_once_even_when_delivered_concurrently()
    {
        var store = CreateStore();
        var id = Guid.NewGuid();

        var added = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ =>
            Task.Run(() => store.AddAsync(3, 3, id, new LiveJudgement(1, Thumb: 1), Cancel), Cancel)));

        Assert.Equal(1, added.Count(a => a));
        Assert.Equal(1, (await store.GetAsync(3, 3, Cancel)).Judgements);
    }

    [Fact]
    public async Task A_rank_position_alone_is_shown_but_not_counted_as_a_judgement()
    {
        var store = CreateStore();

        Assert.True(await store.AddAsync(7, 7, Guid.NewGuid(), new LiveJudgement(null, RankPosition: 0), Cancel));
        Assert.True(await store.AddAsync(7, 7, Guid.NewGuid(), new LiveJudgement(null, RankPosition: 1), Cancel));
        Assert.True(await store.AddAsync(7, 7, Guid.NewGuid(), new LiveJudgement(0.25, Stars: 2), Cancel));

        Assert.Equal(new LiveFeedback(7, 1, 0.25, 0.0625, 0, 0, 2, 1, 1, 2), await store.GetAsync(7, 7, Cancel));
    }

    [Fact]
    public async Task A_judgement_with_neither_score_nor_rank_position_is_refused()
    {
        var store = CreateStore();

        await Assert.ThrowsAsync<ArgumentException>(() => store.AddAsync(1, 1, Guid.NewGuid(), new LiveJudgement(null, Thumb: 1), Cancel));

        Assert.Equal(LiveFeedback.Empty(1), await store.GetAsync(1, 1, Cancel));
    }

    [Theory]
    [InlineData(-0.1, null, null, null)]
    [InlineData(1.5, null, null, null)]
    [InlineData(double.NaN, null, null, null)]
    [InlineData(1.0, 2, null, null)]
    [InlineData(1.0, null, 6, null)]
    [InlineData(1.0, null, null, 1.5)]
    public async Task Invalid_judgements_are_refused_and_change_nothing(double? score, int? thumb, int? stars, double? rank)
    {
        var store = CreateStore();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.AddAsync(1, 1, Guid.NewGuid(), new LiveJudgement(score, thumb, stars, rank), Cancel));

        Assert.Equal(0, (await store.GetAsync(1, 1, Cancel)).Judgements);
    }
}

public sealed class InMemoryLiveFeedbackStoreTests : LiveFeedbackStoreContract
{
    protected override ILiveFeedbackStore CreateStore() => new InMemoryLiveFeedbackStore();
}

public sealed class RedisLiveFeedbackStoreTests(RedisTestConnection redis) : LiveFeedbackStoreContract, IClassFixture<RedisTestConnection>
{
    protected override ILiveFeedbackStore CreateStore() => new RedisLiveFeedbackStore(redis.Redis, $"{redis.KeyPrefix}{Guid.NewGuid():N}:", TimeSpan.FromMinutes(5));

    [Fact]
    public async Task Keys_expire_after_the_ttl()
    {
        var prefix = $"{redis.KeyPrefix}{Guid.NewGuid():N}:";
        var store = new RedisLiveFeedbackStore(redis.Redis, prefix, TimeSpan.FromMinutes(5));

        await store.AddAsync(2, 1, Guid.NewGuid(), new LiveJudgement(1, Thumb: 1), TestContext.Current.CancellationToken);

        var ttl = await redis.Database.KeyTimeToLiveAsync($"{prefix}release:canary:2:version:1");
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5));
        Assert.NotNull(await redis.Database.KeyTimeToLiveAsync($"{prefix}release:canary:2:seen"));
    }
}
