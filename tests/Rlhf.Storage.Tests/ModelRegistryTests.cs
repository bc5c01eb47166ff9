using Rlhf.Contracts;

namespace Rlhf.Storage.Tests;

/// <summary>What every <see cref="IModelRegistry"/> does; run against the in-memory twin and real Redis.</summary>
public abstract class ModelRegistryContract
{
    /// <summary>A registry nobody else writes to (Redis: a fresh key prefix).</summary>
    protected abstract IModelRegistry CreateRegistry();

    protected static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static ModelVersionRecord Record(ModelKind kind, long version, long? parent = null) => new(
        kind,
        version,
        parent,
        new BlobReference($"redis://blob/{kind.ToString().ToLowerInvariant()}/{version}/{new string('a', 64)}", new string('a', 64), 1_048_576 + version, "safetensors"),
        new Dictionary<string, double> { ["kl"] = 0.0125, ["reward_mean"] = -0.5 + version, ["eval_accuracy"] = double.NaN },
        new DateTimeOffset(2026, 11, 26, 9, 0, 0, TimeSpan.Zero).AddMinutes(version));

    [Fact]
    public async Task Next_version_starts_at_one_and_counts_per_kind()
    {
        var registry = CreateRegistry();

        Assert.Equal(1, await registry.NextVersionAsync(ModelKind.Policy, Cancel));
        Assert.Equal(2, await registry.NextVersionAsync(ModelKind.Policy, Cancel));
        Assert.Equal(1, await registry.NextVersionAsync(ModelKind.Reward, Cancel));
        Assert.Equal(3, await registry.NextVersionAsync(ModelKind.Policy, Cancel));
    }

    [Fact]
    public async Task Next_version_is_never_handed_out_twice_under_concurrency()
    {
        var registry = CreateRegistry();

        var versions = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ =>
            Task.Run(() => registry.NextVersionAsync(ModelKind.Reward, Cancel), Cancel)));

        Assert.Equal(Enumerable.Range(1, 50).Select(v => (long)v), versions.Order());
    }

    [Fact]
    public async Task Registered_version_round_trips_every_field()
    {
        var registry = CreateRegistry();
        var saved = Record(ModelKind.Policy, 1, parent: null) with { Metrics = new Dictionary<string, double> { ["kl"] = 0.0125, ["eval_accuracy"] = double.NaN } };
        var child = Record(ModelKind.Policy, 2, parent: 1);

        await registry.RegisterAsync(saved, Cancel);
        await registry.RegisterAsync(child, Cancel);
        var read = await registry.GetAsync(ModelKind.Policy, 2, Cancel);

        Assert.NotNull(read);
        Assert.Equal(ModelKind.Policy, read.Kind);
        Assert.Equal(2, read.Version);
        Assert.Equal(1L, read.ParentVersion);
        Assert.Equal(child.Blob, read.Blob);
        Assert.Equal(new Dictionary<string, double> { ["kl"] = 0.0125, ["reward_mean"] = 1.5, ["eval_accuracy"] = double.NaN }, read.Metrics);
        Assert.Equal(child.CreatedAt, read.CreatedAt);
        Assert.Null((await registry.GetAsync(ModelKind.Policy, 1, Cancel))!.ParentVersion);
        Assert.Null(await registry.GetAsync(ModelKind.Reward, 2, Cancel));
    }

    [Fact]
    public async Task List_is_oldest_first_and_per_kind()
    {
        var registry = CreateRegistry();
        foreach (var version in new long[] { 3, 1, 10, 2 })
            await registry.RegisterAsync(Record(ModelKind.Policy, version), Cancel);
        await registry.RegisterAsync(Record(ModelKind.Reward, 5), Cancel);

        var policies = await registry.ListAsync(ModelKind.Policy, Cancel);

        Assert.Equal([1L, 2L, 3L, 10L], policies.Select(r => r.Version));
        Assert.All(policies, r => Assert.Equal(ModelKind.Policy, r.Kind));
        Assert.Equal([5L], (await registry.ListAsync(ModelKind.Reward, Cancel)).Select(r => r.Version));
    }

    [Fact]
    public async Task Registering_the_same_record_twice_lists_it_once()
    {
        var registry = CreateRegistry();
        var record = Record(ModelKind.Reward, 1);

        await registry.RegisterAsync(record, Cancel);
        await registry.RegisterAsync(record, Cancel);

        Assert.Equal([1L], (await registry.ListAsync(ModelKind.Reward, Cancel)).Select(r => r.Version));
    }

    [Fact]
    public async Task Registering_a_version_directly_moves_the_counter_past_it()
    {
        var registry = CreateRegistry();

        await registry.RegisterAsync(Record(ModelKind.Policy, 5), Cancel);

        Assert.Equal(6, await registry.NextVersionAsync(ModelKind.Policy, Cancel));
        Assert.Equal(1, await registry.NextVersionAsync(ModelKind.Reward, Cancel));
    }

    [Fact]
    public async Task Negative_version_is_refused()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => CreateRegistry().RegisterAsync(Record(ModelKind.Policy, -1), Cancel));
    }

    [Fact]
    public async Task Promote_sets_the_served_version_and_rollback_promotes_an_older_one()
    {
        var registry = CreateRegistry();
        for (var version = 1; version <= 3; version++)
            await registry.RegisterAsync(Record(ModelKind.Policy, version), Cancel);
        Assert.Null(await registry.GetPromotedAsync(ModelKind.Policy, Cancel));

        await registry.PromoteAsync(ModelKind.Policy, 3, Cancel);
        Assert.Equal(3, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);

        await registry.PromoteAsync(ModelKind.Policy, 1, Cancel);
        var promoted = await registry.GetPromotedAsync(ModelKind.Policy, Cancel);
        Assert.Equal(1, promoted!.Version);
        Assert.Equal(Record(ModelKind.Policy, 1).Blob, promoted.Blob);
        Assert.Null(await registry.GetPromotedAsync(ModelKind.Reward, Cancel));
    }

    [Fact]
    public async Task Promoting_an_unknown_version_throws_and_keeps_the_served_one()
    {
        var registry = CreateRegistry();
        await registry.RegisterAsync(Record(ModelKind.Policy, 1), Cancel);
        await registry.PromoteAsync(ModelKind.Policy, 1, Cancel);

        var error = await Assert.ThrowsAsync<KeyNotFoundException>(() => registry.PromoteAsync(ModelKind.Policy, 99, Cancel));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => registry.PromoteAsync(ModelKind.Reward, 1, Cancel));

        Assert.Contains("99", error.Message);
        Assert.Equal(1, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
    }

    [Fact]
    public async Task Canary_starts_once_and_concludes_once_by_promotion()
    {
        var registry = CreateRegistry();
        for (var version = 1; version <= 3; version++)
            await registry.RegisterAsync(Record(ModelKind.Policy, version), Cancel);
        await registry.PromoteAsync(ModelKind.Policy, 1, Cancel);

        Assert.False(await registry.StartCanaryAsync(ModelKind.Policy, 1, Cancel));
        Assert.Null(await registry.GetCanaryAsync(ModelKind.Policy, Cancel));
        Assert.True(await registry.StartCanaryAsync(ModelKind.Policy, 2, Cancel));
        Assert.True(await registry.StartCanaryAsync(ModelKind.Policy, 2, Cancel));
        Assert.False(await registry.StartCanaryAsync(ModelKind.Policy, 3, Cancel));
        Assert.Equal(2, (await registry.GetCanaryAsync(ModelKind.Policy, Cancel))!.Version);
        Assert.Equal(1, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);

        Assert.False(await registry.ConcludeCanaryAsync(ModelKind.Policy, 3, promote: true, Cancel));
        Assert.True(await registry.ConcludeCanaryAsync(ModelKind.Policy, 2, promote: true, Cancel));
        Assert.False(await registry.ConcludeCanaryAsync(ModelKind.Policy, 2, promote: true, Cancel));

        Assert.Null(await registry.GetCanaryAsync(ModelKind.Policy, Cancel));
        Assert.Equal(2, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        Assert.Null(await registry.GetCanaryAsync(ModelKind.Reward, Cancel));
    }

    [Fact]
    public async Task Canary_rolled_back_leaves_the_champion_promoted()
    {
        var registry = CreateRegistry();
        await registry.RegisterAsync(Record(ModelKind.Policy, 1), Cancel);
        await registry.RegisterAsync(Record(ModelKind.Policy, 2), Cancel);
        await registry.PromoteAsync(ModelKind.Policy, 1, Cancel);
        await registry.StartCanaryAsync(ModelKind.Policy, 2, Cancel);

        Assert.True(await registry.ConcludeCanaryAsync(ModelKind.Policy, 2, promote: false, Cancel));

        Assert.Null(await registry.GetCanaryAsync(ModelKind.Policy, Cancel));
        Assert.Equal(1, (await registry.GetPromotedAsync(ModelKind.Policy, Cancel))!.Version);
        Assert.True(await registry.StartCanaryAsync(ModelKind.Policy, 2, Cancel));
    }

    [Fact]
    public async Task Canary_of_an_unknown_version_throws()
    {
        var registry = CreateRegistry();

        await Assert.ThrowsAsync<KeyNotFoundException>(() => registry.StartCanaryAsync(ModelKind.Policy, 7, Cancel));

        Assert.Null(await registry.GetCanaryAsync(ModelKind.Policy, Cancel));
    }

    [Fact]
    public async Task Rejections_round_trip_oldest_first_and_per_kind()
    {
        var registry = CreateRegistry();
        var at = new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
        RejectedVersionRecord Rejected(ModelKind kind, long version, string reason) =>
            new(kind, version, version - 1, 1, reason, new Dictionary<string, double> { ["win_rate"] = 0.25 }, at.AddMinutes(version));

        await registry.RecordRejectedAsync(Rejected(ModelKind.Policy, 7, "worse"), Cancel);
        await registry.RecordRejectedAsync(Rejected(ModelKind.Policy, 3, "worse"), Cancel);
        await registry.RecordRejectedAsync(Rejected(ModelKind.Policy, 3, "rolled back"), Cancel);
        await registry.RecordRejectedAsync(Rejected(ModelKind.Reward, 2, "accuracy dropped"), Cancel);

        var policies = await registry.ListRejectedAsync(ModelKind.Policy, Cancel);
        Assert.Equal([3L, 7L], policies.Select(r => r.Version));
        Assert.Equal("rolled back", policies[0].Reason);
        Assert.Equal(2L, policies[0].ParentVersion);
        Assert.Equal(1L, policies[0].ChampionVersion);
        Assert.Equal(0.25, policies[0].Metrics["win_rate"]);
        Assert.Equal(at.AddMinutes(3), policies[0].RejectedAt);
        Assert.Equal([2L], (await registry.ListRejectedAsync(ModelKind.Reward, Cancel)).Select(r => r.Version));
        await Assert.ThrowsAsync<ArgumentException>(() => registry.RecordRejectedAsync(Rejected(ModelKind.Policy, 8, " "), Cancel));
    }

    [Fact]
    public async Task Promotion_pause_keeps_the_first_reason_until_resumed()
    {
        var registry = CreateRegistry();
        var at = new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
        Assert.Null(await registry.GetPromotionPauseAsync(ModelKind.Policy, Cancel));

        Assert.True(await registry.PausePromotionAsync(ModelKind.Policy, new PromotionPause("reward hacking suspected", at), Cancel));
        Assert.False(await registry.PausePromotionAsync(ModelKind.Policy, new PromotionPause("second", at.AddMinutes(1)), Cancel));

        Assert.Equal(new PromotionPause("reward hacking suspected", at), await registry.GetPromotionPauseAsync(ModelKind.Policy, Cancel));
        Assert.Null(await registry.GetPromotionPauseAsync(ModelKind.Reward, Cancel));
        Assert.True(await registry.ResumePromotionAsync(ModelKind.Policy, Cancel));
        Assert.False(await registry.ResumePromotionAsync(ModelKind.Policy, Cancel));
        Assert.Null(await registry.GetPromotionPauseAsync(ModelKind.Policy, Cancel));
    }
}

public sealed class InMemoryModelRegistryTests : ModelRegistryContract
{
    protected override IModelRegistry CreateRegistry() => new InMemoryModelRegistry();
}

public sealed class RedisModelRegistryTests(RedisTestConnection redis) : ModelRegistryContract, IClassFixture<RedisTestConnection>
{
    protected override IModelRegistry CreateRegistry() => new RedisModelRegistry(redis.Redis, $"{redis.KeyPrefix}{Guid.NewGuid():N}:");

    [Fact]
    public async Task Registry_keys_follow_the_documented_layout()
    {
        var prefix = $"{redis.KeyPrefix}{Guid.NewGuid():N}:";
        var registry = new RedisModelRegistry(redis.Redis, prefix);
        var version = await registry.NextVersionAsync(ModelKind.Policy, Cancel);
        await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, null,
            new BlobReference("redis://blob/policy/1/x", "x", 1, "safetensors"), new Dictionary<string, double>(), DateTimeOffset.UnixEpoch), Cancel);
        await registry.PromoteAsync(ModelKind.Policy, version, Cancel);

        Assert.Equal(1, (long)await redis.Database.StringGetAsync($"{prefix}registry:policy:last-version"));
        Assert.Equal(["1"], (await redis.Database.SortedSetRangeByRankAsync($"{prefix}registry:policy:versions")).Select(v => v.ToString()));
        Assert.Contains("\"version\":1", (string?)await redis.Database.StringGetAsync($"{prefix}registry:policy:version:1"));
        Assert.Equal(1, (long)await redis.Database.StringGetAsync($"{prefix}registry:policy:promoted"));
    }
}
