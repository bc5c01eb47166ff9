using System.Text.Json;
using Rlhf.Contracts;

namespace Rlhf.Storage.Tests;

/// <summary>What every <see cref="IFeedbackJournal"/> and <see cref="IPendingRolloutQueue"/> does; run against the twin and real Redis.</summary>
public abstract class FeedbackJournalContract
{
    protected IFeedbackJournal CreateJournal() => CreateJournal(TimeProvider.System);

    protected abstract IFeedbackJournal CreateJournal(TimeProvider time);

    protected abstract IPendingRolloutQueue CreateQueue();

    protected static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static JsonElement Payload(int n) => JsonSerializer.SerializeToElement(new { rankings = new[] { new[] { n, n + 1 } } });

    static RolloutGenerated Rollout(int choice) => new(Guid.NewGuid(), "chatcmpl-q", choice, 8, 1, "p", [1, 2], $"r{choice}", [3, choice],
        [-0.5f, float.NegativeInfinity], "stop", new SamplingParameters(1, 1, 0, 8, null, []), "m", null, DateTimeOffset.UnixEpoch);

    [Fact]
    public async Task Entries_get_consecutive_positions_and_read_back_in_order()
    {
        var journal = CreateJournal();
        var ids = Enumerable.Range(0, 5).Select(_ => Guid.NewGuid()).ToList();

        for (var i = 0; i < ids.Count; i++)
            Assert.Equal(new JournalAppend(true, i + 1), await journal.AppendAsync(ids[i], i % 2 == 0 ? "ranking" : "rating", $"g{i}", Payload(i), Cancel));

        Assert.Equal(5, await journal.LengthAsync(Cancel));
        var read = await journal.ReadAsync(2, 3, Cancel);
        Assert.Equal([2L, 3L, 4L], read.Select(e => e.Seq));
        Assert.Equal(ids[1..4], read.Select(e => e.FeedbackId));
        Assert.Equal("rating", read[0].Kind);
        Assert.Equal("g2", read[1].GroupId);
        Assert.Equal(JsonSerializer.Serialize(Payload(3)), read[2].Payload.GetRawText());
        Assert.Empty(await journal.ReadAsync(6, 10, Cancel));
    }

    [Fact]
    public async Task Erasing_groups_tombstones_their_entries_in_place_and_a_second_erase_changes_nothing()
    {
        var journal = CreateJournal();
        var ids = Enumerable.Range(0, 4).Select(_ => Guid.NewGuid()).ToList();
        string[] groups = ["gone-a", "kept", "gone-b", "gone-a"];
        for (var i = 0; i < ids.Count; i++)
            await journal.AppendAsync(ids[i], "ranking", groups[i], Payload(i), Cancel);
        var before = await journal.ReadAsync(1, 10, Cancel);

        Assert.Equal(3, await journal.EraseGroupsAsync(new HashSet<string> { "gone-a", "gone-b", "never" }, Cancel));
        Assert.Equal(0, await journal.EraseGroupsAsync(new HashSet<string> { "gone-a", "gone-b" }, Cancel));

        var after = await journal.ReadAsync(1, 10, Cancel);
        Assert.Equal([1L, 2L, 3L, 4L], after.Select(e => e.Seq));
        Assert.Equal(ids, after.Select(e => e.FeedbackId));
        Assert.Equal(groups, after.Select(e => e.GroupId));
        Assert.Equal([true, false, true, true], after.Select(e => e.IsErased));
        Assert.All(after.Where(e => e.IsErased), e => Assert.Equal("{}", e.Payload.GetRawText()));
        Assert.Equal(before[0].RecordedAt, after[0].RecordedAt);
        Assert.Equal(JsonSerializer.Serialize(Payload(1)), after[1].Payload.GetRawText());
        Assert.Equal(new JournalAppend(false, 3), await journal.AppendAsync(ids[2], "ranking", "gone-b", Payload(9), Cancel));
        Assert.Equal(4, await journal.LengthAsync(Cancel));
    }

    [Fact]
    public async Task Expiring_tombstones_entries_older_than_the_cutoff_from_the_oldest_on_and_only_once()
    {
        var time = new Rlhf.Testing.ManualTimeProvider();
        var journal = CreateJournal(time);
        var ids = Enumerable.Range(0, 4).Select(_ => Guid.NewGuid()).ToList();
        for (var i = 0; i < ids.Count; i++)
        {
            await journal.AppendAsync(ids[i], "ranking", $"g{i}", Payload(i), Cancel);
            time.Advance(TimeSpan.FromDays(1));
        }

        await journal.EraseGroupsAsync(new HashSet<string> { "g1" }, Cancel); // a deleted user's entry stays "erased"
        var start = time.GetUtcNow() - TimeSpan.FromDays(4);

        Assert.Equal(new JournalExpiry(0, 0), await journal.ExpireBeforeAsync(start, Cancel));
        Assert.Equal(new JournalExpiry(2, 3), await journal.ExpireBeforeAsync(start + TimeSpan.FromDays(2.5), Cancel));
        Assert.Equal(new JournalExpiry(0, 3), await journal.ExpireBeforeAsync(start + TimeSpan.FromDays(2.5), Cancel));

        var after = await journal.ReadAsync(1, 10, Cancel);
        Assert.Equal([1L, 2L, 3L, 4L], after.Select(e => e.Seq));
        Assert.Equal(ids, after.Select(e => e.FeedbackId));
        Assert.Equal(["expired", "erased", "expired", "ranking"], after.Select(e => e.Kind));
        Assert.Equal([true, true, true, false], after.Select(e => e.IsTombstone));
        Assert.All(after.Take(3), e => Assert.Equal("{}", e.Payload.GetRawText()));
        Assert.Equal(JsonSerializer.Serialize(Payload(3)), after[3].Payload.GetRawText());
        Assert.Equal(new JournalAppend(false, 1), await journal.AppendAsync(ids[0], "ranking", "g0", Payload(9), Cancel));
        Assert.Equal(0, await journal.EraseGroupsAsync(new HashSet<string> { "g0" }, Cancel));

        Assert.Equal(new JournalExpiry(1, 4), await journal.ExpireBeforeAsync(time.GetUtcNow(), Cancel));
        Assert.Equal(new JournalAppend(true, 5), await journal.AppendAsync(Guid.NewGuid(), "rating", "g5", Payload(5), Cancel));
    }

    [Fact]
    public async Task Pending_rollouts_of_a_deleted_user_leave_the_queue_in_order()
    {
        var queue = CreateQueue();
        var rollouts = Enumerable.Range(0, 5).Select(i => Rollout(i) with { UserId = i % 2 == 0 ? "alice" : "bob" }).ToList();
        await queue.PushAsync(rollouts, 100, Cancel);

        Assert.Equal(3, await queue.RemoveWhereAsync(r => r.UserId == "alice", Cancel));
        Assert.Equal(0, await queue.RemoveWhereAsync(r => r.UserId == "alice", Cancel));

        Assert.Equal([rollouts[1].RolloutId, rollouts[3].RolloutId], (await queue.PeekAsync(10, Cancel)).Select(r => r.RolloutId));
    }

    [Fact]
    public async Task Same_feedback_id_is_kept_once_and_answers_its_first_position()
    {
        var journal = CreateJournal();
        var first = Guid.NewGuid();
        await journal.AppendAsync(first, "ranking", "g", Payload(1), Cancel);
        await journal.AppendAsync(Guid.NewGuid(), "ranking", "g", Payload(2), Cancel);

        var again = await journal.AppendAsync(first, "ranking", "g", Payload(99), Cancel);

        Assert.Equal(new JournalAppend(false, 1), again);
        Assert.Equal(2, await journal.LengthAsync(Cancel));
        Assert.Equal(1, await journal.FindAsync(first, Cancel));
        Assert.Null(await journal.FindAsync(Guid.NewGuid(), Cancel));
        Assert.Equal(JsonSerializer.Serialize(Payload(1)), (await journal.ReadAsync(1, 1, Cancel))[0].Payload.GetRawText());
    }

    [Fact]
    public async Task Twenty_parallel_appends_of_one_feedback_store_one_entry()
    {
        var journal = CreateJournal();
        var id = Guid.NewGuid();

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            Task.Run(() => journal.AppendAsync(id, "ranking", "g", Payload(i), Cancel), Cancel)));

        Assert.Equal(1, results.Count(r => r.Appended));
        Assert.All(results, r => Assert.Equal(1, r.Seq));
        Assert.Equal(1, await journal.LengthAsync(Cancel));
    }

    [Fact]
    public async Task Pending_queue_peeks_oldest_first_and_removes_after_scoring()
    {
        var queue = CreateQueue();
        var rollouts = Enumerable.Range(0, 5).Select(Rollout).ToList();

        Assert.Equal(0, await queue.PushAsync(rollouts[..3], 10, Cancel));
        Assert.Equal(0, await queue.PushAsync(rollouts[3..], 10, Cancel));
        var peeked = await queue.PeekAsync(2, Cancel);
        await queue.RemoveAsync(2, Cancel);

        Assert.Equal(rollouts[..2].Select(r => r.RolloutId), peeked.Select(r => r.RolloutId));
        Assert.True(float.IsNegativeInfinity(peeked[0].BehaviourLogProbs[1]));
        Assert.Equal(3, await queue.CountAsync(Cancel));
        Assert.Equal(rollouts[2..].Select(r => r.RolloutId), (await queue.PeekAsync(10, Cancel)).Select(r => r.RolloutId));
    }

    [Fact]
    public async Task Pending_queue_drops_the_oldest_beyond_its_capacity()
    {
        var queue = CreateQueue();
        var rollouts = Enumerable.Range(0, 5).Select(Rollout).ToList();

        Assert.Equal(0, await queue.PushAsync(rollouts[..3], 4, Cancel));
        Assert.Equal(1, await queue.PushAsync(rollouts[3..], 4, Cancel));

        Assert.Equal(rollouts[1..].Select(r => r.RolloutId), (await queue.PeekAsync(10, Cancel)).Select(r => r.RolloutId));
    }
}

public sealed class InMemoryFeedbackJournalTests : FeedbackJournalContract
{
    protected override IFeedbackJournal CreateJournal(TimeProvider time) => new InMemoryFeedbackJournal(time);

    protected override IPendingRolloutQueue CreateQueue() => new InMemoryPendingRolloutQueue();
}

public sealed class RedisFeedbackJournalTests(RedisTestConnection redis) : FeedbackJournalContract, IClassFixture<RedisTestConnection>
{
    readonly string prefix = $"{redis.KeyPrefix}{Guid.NewGuid():N}:";

    protected override IFeedbackJournal CreateJournal(TimeProvider time) => new RedisFeedbackJournal(redis.Redis, prefix, time);

    protected override IPendingRolloutQueue CreateQueue() => new RedisPendingRolloutQueue(redis.Redis, prefix);

    [Fact]
    public async Task Journal_is_a_prefixed_list_of_json_entries_with_their_position()
    {
        var id = Guid.NewGuid();
        await CreateJournal().AppendAsync(id, "ranking", "chatcmpl-1", JsonSerializer.SerializeToElement(new { rankings = Array.Empty<int>() }), Cancel);

        var raw = (string?)await redis.Database.ListGetByIndexAsync($"{prefix}reward:journal", 0);
        using var entry = JsonDocument.Parse(raw!);
        Assert.Equal(1, entry.RootElement.GetProperty("seq").GetInt64());
        Assert.Equal(id.ToString(), entry.RootElement.GetProperty("feedbackId").GetString());
        Assert.Equal("ranking", entry.RootElement.GetProperty("kind").GetString());
        Assert.Equal("1", (string?)await redis.Database.HashGetAsync($"{prefix}reward:journal:ids", id.ToString()));
    }
}
