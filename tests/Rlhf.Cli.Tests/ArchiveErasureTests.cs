using System.Text.Json;
using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Testing;
using static Rlhf.Cli.Tests.ArchiveCli;
using static Rlhf.Testing.ArchiveTestBed;

namespace Rlhf.Cli.Tests;

/// <summary>
/// <c>rlhf replay|export --archive</c> on the real RabbitMQ and Redis skip what a deleted user's tombstone
/// (<c>{prefix}erased:users</c>) covers: the stream is append-only, so the reader skips.
/// </summary>
public sealed class ArchiveErasureTests
{
    static readonly SamplingParameters Sampling = new(1, 1, 0, 16, null, []);

    static RolloutGenerated Rollout(Guid id, string group, int choice, string user) =>
        new(id, group, choice, 4, 1, $"prompt of {user}", [1, 2], $"{group} answer {choice}", [3, 4], [-0.5f, -0.25f], "stop", Sampling, null, user,
            DateTimeOffset.UtcNow);

    static RankingSubmitted Ranking(string group, Guid[] rollouts, string rater) =>
        new(Guid.NewGuid(), group, [[rollouts[0]], [rollouts[1], rollouts[2]], [rollouts[3]]], false, rater, "tests", DateTimeOffset.UtcNow);

    [Fact]
    public async Task Replay_and_export_from_the_archive_skip_a_deleted_users_events()
    {
        await using var bed = await StartAsync();
        var id = Guid.NewGuid().ToString("N");
        var (kept, gone) = ($"chatcmpl-kept-{id}", $"chatcmpl-gone-{id}");
        var (keptIds, goneIds) = (Enumerable.Range(0, 4).Select(_ => Guid.NewGuid()).ToArray(), Enumerable.Range(0, 4).Select(_ => Guid.NewGuid()).ToArray());
        for (var i = 0; i < 4; i++)
        {
            await bed.PublishAsync(Rollout(keptIds[i], kept, i, $"bob-{id}"), Guid.NewGuid());
            await bed.PublishAsync(Rollout(goneIds[i], gone, i, $"alice-{id}"), Guid.NewGuid());
        }

        await bed.PublishAsync(Ranking(kept, keptIds, $"bob-{id}"), Guid.NewGuid());
        await bed.PublishAsync(Ranking(gone, goneIds, $"alice-{id}"), Guid.NewGuid());
        var index = await RunCliAsync(["archive", "index", .. bed.SourceArguments(), "--idle-seconds", "1"]);
        Assert.True(index.Code == 0, index.Error);
        var before = await RunCliAsync(["replay", "--archive", .. bed.SourceArguments(), "--type", "RolloutGenerated", "--type", "RankingSubmitted"]);
        Assert.Contains(before.Out, l => l.Contains($"alice-{id}"));

        await new RedisErasureStore(bed.Redis, bed.KeyPrefix).RecordAsync(
            new UserErasure($"alice-{id}", DateTimeOffset.UtcNow, [gone], goneIds), TestContext.Current.CancellationToken);
        var replay = await RunCliAsync(["replay", "--archive", .. bed.SourceArguments(), "--type", "RolloutGenerated", "--type", "RankingSubmitted"]);
        var export = await RunCliAsync(["export", "preferences", "--archive", .. bed.SourceArguments()]);

        Assert.True(replay.Code == 0, replay.Error);
        Assert.DoesNotContain(replay.Out, l => l.Contains($"alice-{id}") || l.Contains(gone));
        Assert.Equal(5, replay.Out.Count(l => l.Contains(kept)));
        Assert.True(export.Code == 0, export.Error);
        var groups = export.Out.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("group_id").GetString()).ToList();
        Assert.DoesNotContain(gone, groups);
        Assert.Equal(5, groups.Count(g => g == kept));
    }
}
