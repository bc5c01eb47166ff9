using Rlhf.Contracts;
using Rlhf.Testing;
using static Rlhf.Testing.ArchiveTestBed;

namespace Rlhf.Archive.Tests;

/// <summary>
/// <see cref="ArchiveIndex.RunAsync"/> on the real RabbitMQ and Redis: each test has its own stream and key prefix; events
/// of other tests running at the same time land in every test's stream too.
/// </summary>
public sealed class ArchiveIndexRunTests
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static readonly SamplingParameters Sampling = new(1, 1, 0, 16, null, []);

    static RolloutGenerated Rollout(Guid id, string group, int choice, long policy) =>
        new(id, group, choice, 4, policy, "What is 2+2?", [1, 2], $"answer {choice}", [3, 4], [-0.5f, -0.25f], "stop", Sampling, null, null,
            DateTimeOffset.UtcNow);

    static Guid[] NewIds(int count) => [.. Enumerable.Range(0, count).Select(_ => Guid.NewGuid())];

    [Fact]
    public async Task Index_resumes_from_its_stored_offset_and_indexing_the_same_offsets_again_changes_nothing()
    {
        await using var bed = await StartAsync();
        var correlation = Guid.NewGuid();
        var group = $"chatcmpl-resume-{correlation:N}";
        var rollouts = NewIds(5);
        for (var i = 0; i < 3; i++)
            await bed.PublishAsync(Rollout(rollouts[i], group, i, 1), correlation);

        await using var connection = await new RabbitMQ.Client.ConnectionFactory { Uri = RabbitMq }.CreateConnectionAsync(Cancel);
        var first = await bed.Index().RunAsync(connection, TimeSpan.FromSeconds(1), Cancel);
        var query = new ArchiveQuery { CorrelationId = correlation.ToString() };
        var afterFirst = await bed.Index().QueryAsync(query);
        Assert.Null(first.FromOffset);
        Assert.Equal(3, afterFirst!.Count);
        Assert.True(first.NextOffset > afterFirst[^1], $"next offset {first.NextOffset} is not past {afterFirst[^1]}");

        // A new indexer (another process) starts where the first stopped.
        var idle = await bed.Index().RunAsync(connection, TimeSpan.FromSeconds(1), Cancel);
        Assert.Equal(first.NextOffset, idle.FromOffset);
        for (var i = 3; i < 5; i++)
            await bed.PublishAsync(Rollout(rollouts[i], group, i, 1), correlation);
        var second = await bed.Index().RunAsync(connection, TimeSpan.FromSeconds(1), Cancel);
        Assert.Equal(idle.NextOffset, second.FromOffset);
        var afterSecond = await bed.Index().QueryAsync(query);
        Assert.Equal(5, afterSecond!.Count);
        Assert.Equal(afterFirst, afterSecond.Take(3));
        Assert.Equal(afterSecond, (await bed.Index().QueryAsync(new ArchiveQuery { GroupId = group }))!);

        // Indexing every offset already indexed once more leaves every key as it was, and the pointer where it was.
        var state = await bed.Index().StateAsync();
        var keys = await bed.IndexKeysAsync();
        var again = (await bed.ReadStreamAsync()).Where(e => e.Offset < state.NextOffset).ToList();
        Assert.True(again.Count >= 5);
        foreach (var batch in again.Chunk(ArchiveIndex.BatchSize))
            await bed.Index().IndexAsync(batch);
        Assert.Equal(keys, await bed.IndexKeysAsync());
        Assert.Equal(state, await bed.Index().StateAsync());
        Assert.Contains(keys, k => k.Key.EndsWith($"corr:{correlation:D}", StringComparison.Ordinal) && k.Value == 5);
    }
}
