using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Testing;
using static Rlhf.Cli.Tests.ArchiveCli;
using static Rlhf.Testing.ArchiveTestBed;

namespace Rlhf.Cli.Tests;

/// <summary><c>rlhf archive dump</c> on the real RabbitMQ stream skips a deleted user's events (tombstones in Redis), like replay and export.</summary>
public sealed class ArchiveDumpErasureTests
{
    static readonly SamplingParameters Sampling = new(1, 1, 0, 16, null, []);

    static RolloutGenerated Rollout(Guid id, string group, int choice, string user) =>
        new(id, group, choice, 2, 1, $"prompt of {user}", [1, 2], $"{group} answer {choice}", [3, 4], [-0.5f, -0.25f], "stop", Sampling, null, user,
            DateTimeOffset.UtcNow);

    [Fact]
    public async Task Dump_skips_the_events_of_a_deleted_users_requests_and_ratings_and_keeps_the_rest_in_order()
    {
        await using var bed = await StartAsync();
        var id = Guid.NewGuid().ToString("N");
        var (kept, gone) = ($"chatcmpl-kept-{id}", $"chatcmpl-gone-{id}");
        var (keptIds, goneIds) = (new[] { Guid.NewGuid(), Guid.NewGuid() }, new[] { Guid.NewGuid(), Guid.NewGuid() });
        for (var i = 0; i < 2; i++)
        {
            await bed.PublishAsync(Rollout(keptIds[i], kept, i, $"bob-{id}"), Guid.NewGuid());
            await bed.PublishAsync(Rollout(goneIds[i], gone, i, $"alice-{id}"), Guid.NewGuid());
        }

        // alice rates bob's answer before her deletion: an event that names her as rater goes too.
        await bed.PublishAsync(new RatingSubmitted(Guid.NewGuid(), keptIds[0], kept, RatingScale.Thumbs, 1, $"alice-{id}", "tests", DateTimeOffset.UtcNow),
            Guid.NewGuid());
        await new RedisErasureStore(bed.Redis, bed.KeyPrefix).RecordAsync(
            new UserErasure($"alice-{id}", DateTimeOffset.UtcNow.AddSeconds(1), [gone], goneIds), TestContext.Current.CancellationToken);
        var path = Path.Combine(Path.GetTempPath(), $"rlhf-dump-{id}.jsonl");
        try
        {
            var dump = await RunCliAsync(["archive", "dump", "--rabbitmq", RabbitMq.ToString(), "--queue", bed.Queue, "--redis", RedisAddress,
                "--key-prefix", bed.KeyPrefix, "--idle-seconds", "1", "--out", path]);

            Assert.True(dump.Code == 0, dump.Error);
            Assert.Contains("skipped 3 events of deleted users (1 tombstones)", dump.Error);
            // Other tests publish to the same exchanges meanwhile: only this test's events are counted.
            var lines = (await File.ReadAllLinesAsync(path, TestContext.Current.CancellationToken)).Where(l => l.Contains(id)).ToArray();
            Assert.DoesNotContain(lines, l => l.Contains($"alice-{id}") || l.Contains(gone));
            Assert.Equal(2, lines.Length);
            Assert.Contains(keptIds[0].ToString(), lines[0]);
            Assert.Contains(keptIds[1].ToString(), lines[1]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Dump_with_redact_content_writes_markers_instead_of_prompts_and_responses()
    {
        await using var bed = await StartAsync();
        var id = Guid.NewGuid().ToString("N");
        var rollout = Rollout(Guid.NewGuid(), $"chatcmpl-redact-{id}", 0, $"carol-{id}") with { PromptText = $"my password is hunter2-{id}" };
        await bed.PublishAsync(rollout, Guid.NewGuid());
        var path = Path.Combine(Path.GetTempPath(), $"rlhf-dump-{id}.jsonl");
        try
        {
            var dump = await RunCliAsync(["archive", "dump", "--rabbitmq", RabbitMq.ToString(), "--queue", bed.Queue, "--redis", RedisAddress,
                "--key-prefix", bed.KeyPrefix, "--idle-seconds", "1", "--redact-content", "--out", path]);

            Assert.True(dump.Code == 0, dump.Error);
            var line = Assert.Single(await File.ReadAllLinesAsync(path, TestContext.Current.CancellationToken), l => l.Contains(rollout.RolloutId.ToString()));
            Assert.DoesNotContain("hunter2", line);
            Assert.DoesNotContain(rollout.ResponseText, line);
            Assert.Contains(Rlhf.Archive.ContentRedaction.Marker(rollout.PromptText), line);
            Assert.Contains($"carol-{id}", line); // ids stay
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Dump_refuses_to_run_when_the_tombstones_cannot_be_read()
    {
        var dump = await RunCliAsync(["archive", "dump", "--rabbitmq", RabbitMq.ToString(), "--queue", "rlhf-archive-never",
            "--redis", $"127.0.0.1:{TestInfrastructure.ClosedPort()},connectTimeout=500", "--idle-seconds", "1"]);

        Assert.Equal(1, dump.Code);
        Assert.Contains("cannot read the deleted users' tombstones", dump.Error);
        Assert.Empty(dump.Out);
    }
}
