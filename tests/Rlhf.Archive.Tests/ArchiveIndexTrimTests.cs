using System.Text.Json;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.Archive.Tests;

/// <summary>
/// Retention: when the stream drops its oldest segments, <see cref="ArchiveIndex.TrimAsync"/> removes what the index held
/// for them (on the real Redis, under a key prefix of the test's own). Four requests of five events each at offsets
/// 0-19: four rollouts and a ranking per group, one correlation id per request.
/// </summary>
public sealed class ArchiveIndexTrimTests : IAsyncLifetime
{
    readonly string prefix = $"rlhf-test:trim:{Guid.NewGuid():N}:";
    readonly Guid[] correlations = [.. Enumerable.Range(0, 4).Select(_ => Guid.NewGuid())];
    readonly Guid[][] rollouts = [.. Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 4).Select(_ => Guid.NewGuid()).ToArray())];
    static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-11-26T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
    ConnectionMultiplexer redis = null!;

    static string Group(int g) => $"chatcmpl-trim-{g}";

    static ArchiveEntry Entry(long offset, string type, Guid correlation, object message) => new(offset, JsonSerializer.SerializeToUtf8Bytes(new
    {
        messageId = Guid.NewGuid(),
        correlationId = correlation,
        messageType = new[] { $"urn:message:Rlhf.Contracts:{type}" },
        sentTime = Start.AddSeconds(offset),
        message,
    }, new JsonSerializerOptions(JsonSerializerDefaults.Web)));

    List<ArchiveEntry> Events()
    {
        var entries = new List<ArchiveEntry>();
        for (var g = 0; g < 4; g++)
        {
            for (var i = 0; i < 4; i++)
                entries.Add(Entry(g * 5 + i, "RolloutGenerated", correlations[g],
                    new { rolloutId = rollouts[g][i], groupId = Group(g), policyVersion = g < 2 ? 1 : 2 }));
            entries.Add(Entry(g * 5 + 4, "RankingSubmitted", correlations[g],
                new { groupId = Group(g), rankedRolloutIds = new[] { new[] { rollouts[g][0] }, rollouts[g][1..] } }));
        }

        return entries;
    }

    [Fact]
    public async Task Trimming_removes_every_trace_of_dropped_offsets_and_keeps_the_rest()
    {
        var index = new ArchiveIndex(redis, prefix, "rlhf-archive-trim-test");
        Assert.Equal(20, await index.IndexAsync(Events()));
        var db = redis.GetDatabase();
        var keysBefore = await KeysAsync();
        Assert.Contains($"{index.Prefix}group:{Group(0)}", keysBefore);

        var deleted = await index.TrimAsync(10); // the stream now starts at request 2

        // Per-request keys of requests 0 and 1 are gone whole: correlation, group, group rollouts, each rollout.
        var keysAfter = await KeysAsync();
        foreach (var g in new[] { 0, 1 })
        {
            Assert.DoesNotContain($"{index.Prefix}corr:{correlations[g]:D}", keysAfter);
            Assert.DoesNotContain($"{index.Prefix}group:{Group(g)}", keysAfter);
            Assert.DoesNotContain($"{index.Prefix}group-rollouts:{Group(g)}", keysAfter);
            Assert.All(rollouts[g], r => Assert.DoesNotContain($"{index.Prefix}rollout:{r:D}", keysAfter));
        }

        Assert.Equal(2 * (3 + 4), deleted);
        // Long-lived sets lose the dropped offsets; the policy-1 set is empty and gone.
        Assert.DoesNotContain($"{index.Prefix}policy:1", keysAfter);
        Assert.Equal([10L, 11, 12, 13, 15, 16, 17, 18], (await db.SortedSetRangeByRankAsync($"{index.Prefix}policy:2")).Select(m => (long)m));
        Assert.Equal([14L, 19], (await db.SortedSetRangeByRankAsync($"{index.Prefix}type:RankingSubmitted")).Select(m => (long)m));
        Assert.Equal(10, await db.SortedSetLengthAsync($"{index.Prefix}time"));
        Assert.Equal(10, (await index.StateAsync()).FirstOffset);

        // Queries see only what the stream still holds.
        Assert.Equal([], await index.QueryAsync(new ArchiveQuery { CorrelationId = correlations[0].ToString() }));
        Assert.Equal([10L, 11, 12, 13, 14], await index.QueryAsync(new ArchiveQuery { GroupId = Group(2) }));
        Assert.Equal([10L, 11, 12, 13, 14, 15, 16, 17, 18, 19],
            await index.QueryAsync(new ArchiveQuery { Since = Start, Until = Start.AddMinutes(1) }));

        // A trim inside a request keeps its keys (they still name kept offsets) but queries start at the new floor.
        Assert.Equal(0, await index.TrimAsync(12));
        Assert.Equal([12L, 13, 14], await index.QueryAsync(new ArchiveQuery { GroupId = Group(2) }));
        Assert.Equal([12L, 13, 14], await index.QueryAsync(new ArchiveQuery { CorrelationId = correlations[2].ToString() }));
        // Trimming again at the same offset changes nothing.
        Assert.Equal(0, await index.TrimAsync(12));
        Assert.Equal(keysAfter.Count, (await KeysAsync()).Count);
    }

    async Task<HashSet<string>> KeysAsync()
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var key in redis.GetServers()[0].KeysAsync(pattern: prefix + "*"))
            keys.Add(key!);
        return keys;
    }

    public async ValueTask InitializeAsync() => redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);

    public async ValueTask DisposeAsync()
    {
        var keys = await KeysAsync();
        if (keys.Count > 0)
            await redis.GetDatabase().KeyDeleteAsync([.. keys.Select(k => (RedisKey)k)]);
        await redis.DisposeAsync();
    }
}
