using Rlhf.Contracts;

namespace Rlhf.Storage.Tests;

/// <summary>What every <see cref="IRolloutStore"/> does; run against the in-memory twin and real Redis.</summary>
public abstract class RolloutStoreContract
{
    /// <summary>A TTL the test can wait out (fake time in memory, about a second in Redis).</summary>
    protected abstract TimeSpan ShortTtl { get; }

    protected abstract IRolloutStore CreateStore(TimeSpan ttl);

    protected abstract Task WaitPastAsync(TimeSpan ttl);

    protected static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public static RolloutGenerated Rollout(string groupId, int choiceIndex, int groupSize = 4) => new(
        RolloutId: Guid.NewGuid(),
        GroupId: groupId,
        ChoiceIndex: choiceIndex,
        GroupSize: groupSize,
        PolicyVersion: 7,
        PromptText: "<|user|>What is 2+3?<|assistant|>",
        PromptTokenIds: [1, 17, 4_000, 65_535],
        ResponseText: $"5 (choice {choiceIndex}) ✓",
        ResponseTokenIds: [42, 43, 2],
        BehaviourLogProbs: [-0.25f, -1.5e-7f, float.NegativeInfinity],
        FinishReason: "stop",
        Sampling: new SamplingParameters(0.7, 0.95, 40, 64, 1234, ["\n\n", "</s>"]),
        ClientId: "chat-app",
        UserId: "user-9",
        CreatedAt: new DateTimeOffset(2026, 11, 26, 10, 30, 15, 123, TimeSpan.Zero));

    [Fact]
    public async Task Deleting_a_user_removes_their_rollouts_only_and_a_second_delete_finds_none()
    {
        var store = CreateStore(TimeSpan.FromDays(7));
        var user = $"alice:{Guid.NewGuid():N} é";
        string first = $"chatcmpl-{Guid.NewGuid():N}", second = $"chatcmpl-{Guid.NewGuid():N}", other = $"chatcmpl-{Guid.NewGuid():N}";
        var theirs = new[] { Rollout(first, 0, 2) with { UserId = user }, Rollout(first, 1, 2) with { UserId = user } };
        var theirsToo = Rollout(second, 0, 1) with { UserId = user };
        var someoneElse = new[] { Rollout(other, 0, 2) with { UserId = "bob" }, Rollout(other, 1, 2) with { UserId = "bob" } };
        await store.SaveGroupAsync(theirs, Cancel);
        await store.SaveGroupAsync([theirsToo], Cancel);
        await store.SaveGroupAsync(someoneElse, Cancel);

        var deleted = await store.DeleteUserAsync(user, Cancel);

        Assert.Equal(theirs.Append(theirsToo).Select(r => r.RolloutId).Order(), deleted.Rollouts.Select(r => r.RolloutId).Order());
        Assert.Equal(new[] { first, second }.Order(StringComparer.Ordinal), deleted.GroupIds);
        foreach (var rollout in theirs.Append(theirsToo))
            Assert.Null(await store.GetAsync(rollout.RolloutId, Cancel));
        Assert.Empty(await store.GetGroupAsync(first, Cancel));
        Assert.Empty(await store.GetGroupAsync(second, Cancel));
        Assert.Equal(someoneElse.Select(r => r.RolloutId), (await store.GetGroupAsync(other, Cancel)).Select(r => r.RolloutId));
        var again = await store.DeleteUserAsync(user, Cancel);
        Assert.Empty(again.Rollouts);
        Assert.Empty(again.GroupIds);
        Assert.Empty((await store.DeleteUserAsync("nobody", Cancel)).Rollouts);
    }

    [Fact]
    public async Task Saved_rollout_round_trips_every_field()
    {
        var store = CreateStore(TimeSpan.FromDays(7));
        var saved = Rollout($"chatcmpl-{Guid.NewGuid():N}", 0, groupSize: 1);

        await store.SaveGroupAsync([saved], Cancel);
        var read = await store.GetAsync(saved.RolloutId, Cancel);

        Assert.NotNull(read);
        Assert.Equal(saved.RolloutId, read.RolloutId);
        Assert.Equal(saved.GroupId, read.GroupId);
        Assert.Equal(0, read.ChoiceIndex);
        Assert.Equal(1, read.GroupSize);
        Assert.Equal(7, read.PolicyVersion);
        Assert.Equal("<|user|>What is 2+3?<|assistant|>", read.PromptText);
        Assert.Equal([1, 17, 4_000, 65_535], read.PromptTokenIds);
        Assert.Equal("5 (choice 0) ✓", read.ResponseText);
        Assert.Equal([42, 43, 2], read.ResponseTokenIds);
        Assert.Equal([-0.25f, -1.5e-7f, float.NegativeInfinity], read.BehaviourLogProbs);
        Assert.Equal("stop", read.FinishReason);
        Assert.Equal(0.7, read.Sampling.Temperature);
        Assert.Equal(0.95, read.Sampling.TopP);
        Assert.Equal(40, read.Sampling.TopK);
        Assert.Equal(64, read.Sampling.MaxNewTokens);
        Assert.Equal(1234L, read.Sampling.Seed);
        Assert.Equal(["\n\n", "</s>"], read.Sampling.Stop);
        Assert.Equal("chat-app", read.ClientId);
        Assert.Equal("user-9", read.UserId);
        Assert.Equal(saved.CreatedAt, read.CreatedAt);
        Assert.Equal(TimeSpan.Zero, read.CreatedAt.Offset);
    }

    [Fact]
    public async Task Rollout_without_optional_fields_round_trips_nulls()
    {
        var store = CreateStore(TimeSpan.FromDays(7));
        var saved = Rollout($"chatcmpl-{Guid.NewGuid():N}", 0, groupSize: 1) with
        {
            ClientId = null,
            UserId = null,
            Sampling = new SamplingParameters(0, 1, 0, 16, null, []),
        };

        await store.SaveGroupAsync([saved], Cancel);
        var read = await store.GetAsync(saved.RolloutId, Cancel);

        Assert.NotNull(read);
        Assert.Null(read.ClientId);
        Assert.Null(read.UserId);
        Assert.Null(read.Sampling.Seed);
        Assert.Empty(read.Sampling.Stop);
    }

    [Fact]
    public async Task Group_lists_its_candidates_in_choice_order()
    {
        var store = CreateStore(TimeSpan.FromDays(7));
        var groupId = $"chatcmpl-{Guid.NewGuid():N}";
        var candidates = Enumerable.Range(0, 4).Select(i => Rollout(groupId, i)).ToList();

        await store.SaveGroupAsync([candidates[3], candidates[1], candidates[0], candidates[2]], Cancel);
        var group = await store.GetGroupAsync(groupId, Cancel);

        Assert.Equal([0, 1, 2, 3], group.Select(r => r.ChoiceIndex));
        Assert.Equal(candidates.Select(c => c.RolloutId), group.Select(r => r.RolloutId));
    }

    [Fact]
    public async Task Many_returns_the_stored_rollouts_by_id_and_leaves_unknown_and_expired_ones_out()
    {
        var store = CreateStore(ShortTtl);
        var groupId = $"chatcmpl-{Guid.NewGuid():N}";
        var first = Enumerable.Range(0, 3).Select(i => Rollout(groupId, i, groupSize: 3)).ToList();
        await store.SaveGroupAsync([first[0], first[2]], Cancel);
        var unknown = Guid.NewGuid();

        var found = await store.GetManyAsync([first[2].RolloutId, unknown, first[0].RolloutId, first[0].RolloutId], Cancel);

        Assert.Equal(2, found.Count);
        Assert.Equal(new[] { first[0].RolloutId, first[2].RolloutId }.Order(), found.Keys.Order());
        Assert.All(found, kv => Assert.Equal(kv.Key, kv.Value.RolloutId));
        Assert.Equal("5 (choice 2) ✓", found[first[2].RolloutId].ResponseText);
        Assert.Equal([1, 17, 4_000, 65_535], found[first[0].RolloutId].PromptTokenIds);
        Assert.Equal([-0.25f, -1.5e-7f, float.NegativeInfinity], found[first[2].RolloutId].BehaviourLogProbs);
        Assert.False(found.ContainsKey(unknown));
        Assert.False(found.ContainsKey(first[1].RolloutId));
        Assert.Empty(await store.GetManyAsync([], Cancel));

        await WaitPastAsync(ShortTtl);
        Assert.Empty(await store.GetManyAsync([first[0].RolloutId, first[2].RolloutId], Cancel));
    }

    [Fact]
    public async Task Unknown_rollout_and_group_are_absent()
    {
        var store = CreateStore(TimeSpan.FromDays(7));

        Assert.Null(await store.GetAsync(Guid.NewGuid(), Cancel));
        Assert.Empty(await store.GetGroupAsync($"chatcmpl-{Guid.NewGuid():N}", Cancel));
    }

    [Fact]
    public async Task Rollouts_and_their_group_expire_after_the_ttl()
    {
        var store = CreateStore(ShortTtl);
        var groupId = $"chatcmpl-{Guid.NewGuid():N}";
        var candidates = Enumerable.Range(0, 2).Select(i => Rollout(groupId, i, groupSize: 2)).ToList();
        await store.SaveGroupAsync(candidates, Cancel);
        Assert.NotNull(await store.GetAsync(candidates[0].RolloutId, Cancel));
        Assert.Equal(2, (await store.GetGroupAsync(groupId, Cancel)).Count);

        await WaitPastAsync(ShortTtl);

        Assert.Null(await store.GetAsync(candidates[0].RolloutId, Cancel));
        Assert.Null(await store.GetAsync(candidates[1].RolloutId, Cancel));
        Assert.Empty(await store.GetGroupAsync(groupId, Cancel));
    }

    [Fact]
    public async Task Candidates_of_two_groups_are_refused_and_nothing_is_stored()
    {
        var store = CreateStore(TimeSpan.FromDays(7));
        var first = Rollout($"chatcmpl-{Guid.NewGuid():N}", 0);
        var second = Rollout($"chatcmpl-{Guid.NewGuid():N}", 1);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.SaveGroupAsync([first, second], Cancel));

        Assert.Contains(first.GroupId, error.Message);
        Assert.Null(await store.GetAsync(first.RolloutId, Cancel));
        Assert.Empty(await store.GetGroupAsync(first.GroupId, Cancel));
    }
}

public sealed class InMemoryRolloutStoreTests : RolloutStoreContract
{
    readonly ManualTimeProvider time = new();

    protected override TimeSpan ShortTtl => TimeSpan.FromHours(1);

    protected override IRolloutStore CreateStore(TimeSpan ttl) => new InMemoryRolloutStore(ttl, time);

    protected override Task WaitPastAsync(TimeSpan ttl)
    {
        time.Advance(ttl);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Rollout_is_still_there_just_before_the_ttl()
    {
        var store = CreateStore(TimeSpan.FromHours(1));
        var rollout = Rollout($"chatcmpl-{Guid.NewGuid():N}", 0, groupSize: 1);
        await store.SaveGroupAsync([rollout], Cancel);

        time.Advance(TimeSpan.FromHours(1) - TimeSpan.FromMilliseconds(1));

        Assert.NotNull(await store.GetAsync(rollout.RolloutId, Cancel));
    }
}

public sealed class RedisRolloutStoreTests(RedisTestConnection redis) : RolloutStoreContract, IClassFixture<RedisTestConnection>
{
    protected override TimeSpan ShortTtl => TimeSpan.FromSeconds(1);

    protected override IRolloutStore CreateStore(TimeSpan ttl) => new RedisRolloutStore(redis.Redis, redis.KeyPrefix, ttl);

    protected override Task WaitPastAsync(TimeSpan ttl) => Task.Delay(ttl + TimeSpan.FromMilliseconds(250), Cancel);

    [Fact]
    public async Task Rollout_and_group_keys_carry_the_ttl()
    {
        var store = CreateStore(TimeSpan.FromDays(7));
        var rollout = Rollout($"chatcmpl-{Guid.NewGuid():N}", 0, groupSize: 1);

        await store.SaveGroupAsync([rollout], Cancel);

        var rolloutTtl = await redis.Database.KeyTimeToLiveAsync($"{redis.KeyPrefix}rollout:{rollout.RolloutId}");
        var groupTtl = await redis.Database.KeyTimeToLiveAsync($"{redis.KeyPrefix}rollout-group:{rollout.GroupId}");
        Assert.InRange(rolloutTtl!.Value, TimeSpan.FromDays(7) - TimeSpan.FromMinutes(1), TimeSpan.FromDays(7));
        Assert.InRange(groupTtl!.Value, TimeSpan.FromDays(7) - TimeSpan.FromMinutes(1), TimeSpan.FromDays(7));
    }
}
