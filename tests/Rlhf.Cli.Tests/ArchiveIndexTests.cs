using System.Globalization;
using System.Text.Json;
using Rlhf.Archive;
using Rlhf.Contracts;
using Rlhf.Testing;
using static Rlhf.Cli.Tests.ArchiveCli;
using static Rlhf.Testing.ArchiveTestBed;

namespace Rlhf.Cli.Tests;

/// <summary>
/// <c>rlhf archive index</c> and <c>rlhf replay --archive</c> over the Redis index of the archive stream, on the real
/// RabbitMQ and Redis (the index itself is tested in Rlhf.Archive.Tests). Each test has
/// its own stream and key prefix; events of other tests running at the same time land in every test's stream too.
/// </summary>
public sealed class ArchiveIndexTests
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static readonly SamplingParameters Sampling = new(1, 1, 0, 16, null, []);

    static RolloutGenerated Rollout(Guid id, string group, int choice, long policy) =>
        new(id, group, choice, 4, policy, "What is 2+2?", [1, 2], $"answer {choice}", [3, 4], [-0.5f, -0.25f], "stop", Sampling, null, null,
            DateTimeOffset.UtcNow);

    static RankingSubmitted Ranking(string group, Guid[] rollouts) =>
        new(Guid.NewGuid(), group, [[rollouts[0]], [rollouts[1], rollouts[2]], [rollouts[3]]], false, "rater-1", "tests", DateTimeOffset.UtcNow);

    static RolloutScored Score(Guid rollout, string group, long policy) => new(rollout, group, policy, 1, 0.5f, DateTimeOffset.UtcNow);

    static Guid[] NewIds(int count) => [.. Enumerable.Range(0, count).Select(_ => Guid.NewGuid())];

    static string[] Index(ArchiveTestBed bed) => ["archive", "index", .. bed.SourceArguments(), "--idle-seconds", "1"];

    static string[] Replay(ArchiveTestBed bed, params string[] filter) => ["replay", "--archive", .. bed.SourceArguments(), .. filter];

    static Guid MessageId(string line) => JsonDocument.Parse(line).RootElement.GetProperty("messageId").GetGuid();

    static string TypeOf(string line) => JsonDocument.Parse(line).RootElement.GetProperty("type").GetString()!;

    static long OffsetOf(string line) => JsonDocument.Parse(line).RootElement.GetProperty("streamOffset").GetInt64();

    [Fact]
    public async Task Replay_by_correlation_id_returns_exactly_that_requests_events_in_stream_order()
    {
        await using var bed = await StartAsync();
        var (a, b) = (Guid.NewGuid(), Guid.NewGuid());
        var (groupA, groupB) = ($"chatcmpl-a-{a:N}", $"chatcmpl-b-{b:N}");
        var (rolloutsA, rolloutsB) = (NewIds(4), NewIds(4));
        var expected = new List<Guid>();
        // Request B's events interleave with A's all along.
        for (var i = 0; i < 4; i++)
        {
            expected.Add(await bed.PublishAsync(Rollout(rolloutsA[i], groupA, i, 1), a));
            await bed.PublishAsync(Rollout(rolloutsB[i], groupB, i, 1), b);
        }

        await bed.PublishAsync(Ranking(groupB, rolloutsB), b);
        expected.Add(await bed.PublishAsync(Ranking(groupA, rolloutsA), a));
        for (var i = 0; i < 4; i++)
        {
            await bed.PublishAsync(Score(rolloutsB[i], groupB, 1), b);
            expected.Add(await bed.PublishAsync(Score(rolloutsA[i], groupA, 1), a));
        }

        var index = await RunCliAsync(Index(bed));
        Assert.True(index.Code == 0, index.Error);
        Assert.Contains("indexed ", index.Error, StringComparison.Ordinal);

        var (code, lines, error) = await RunCliAsync(Replay(bed, "--correlation-id", a.ToString().ToUpperInvariant()));

        Assert.True(code == 0, error);
        Assert.Equal(expected, lines.Select(MessageId));
        Assert.Equal([.. Enumerable.Repeat(nameof(RolloutGenerated), 4), nameof(RankingSubmitted), .. Enumerable.Repeat(nameof(RolloutScored), 4)],
            lines.Select(TypeOf));
        Assert.All(lines, line => Assert.Equal(a, JsonDocument.Parse(line).RootElement.GetProperty("correlationId").GetGuid()));
        var offsets = lines.Select(OffsetOf).ToList();
        Assert.Equal(offsets.Order(), offsets);
        Assert.Contains("9 offsets from the index", error, StringComparison.Ordinal);
        // The index itself names exactly these offsets.
        Assert.Equal(offsets, await bed.Index().QueryAsync(new ArchiveQuery { CorrelationId = a.ToString() }));
        // --type narrows within the request; --limit and --offset page the matches.
        var scores = await RunCliAsync(Replay(bed, "--correlation-id", a.ToString(), "--type", nameof(RolloutScored), "--offset", "1", "--limit", "2"));
        Assert.Equal(expected.Skip(6).Take(2), scores.Out.Select(MessageId));
    }

    [Fact]
    public async Task Time_range_queries_return_the_events_sent_within_it()
    {
        await using var bed = await StartAsync();
        var correlation = Guid.NewGuid();
        var group = $"chatcmpl-time-{correlation:N}";
        var rollouts = NewIds(7);
        var before = new List<Guid>();
        var within = new List<Guid>();
        var after = new List<Guid>();
        for (var i = 0; i < 2; i++)
            before.Add(await bed.PublishAsync(Rollout(rollouts[i], group, i, 1), correlation));
        await Task.Delay(50, Cancel);
        var since = DateTimeOffset.UtcNow;
        await Task.Delay(50, Cancel);
        for (var i = 2; i < 5; i++)
            within.Add(await bed.PublishAsync(Rollout(rollouts[i], group, i, 1), correlation));
        await Task.Delay(50, Cancel);
        var until = DateTimeOffset.UtcNow;
        await Task.Delay(50, Cancel);
        for (var i = 5; i < 7; i++)
            after.Add(await bed.PublishAsync(Rollout(rollouts[i], group, i, 1), correlation));
        Assert.Equal(0, (await RunCliAsync(Index(bed))).Code);

        // With the correlation id: exactly the three sent within the range.
        var (code, lines, error) = await RunCliAsync(Replay(bed, "--correlation-id", correlation.ToString(),
            "--since", since.ToString("O"), "--until", until.ToString("O")));
        Assert.True(code == 0, error);
        Assert.Equal(within, lines.Select(MessageId));
        Assert.Contains("3 offsets from the index", error, StringComparison.Ordinal);

        // The time range alone (ZRANGEBYSCORE on the time set): ours within it, none of ours outside (other tests' events may be in it).
        var timeOnly = await RunCliAsync(Replay(bed, "--since", since.ToString("O"), "--until", until.ToString("O")));
        Assert.Equal(0, timeOnly.Code);
        var ids = timeOnly.Out.Select(MessageId).ToList();
        Assert.Equal(within, ids.Where(within.Contains));
        Assert.DoesNotContain(ids, id => before.Contains(id) || after.Contains(id));
        Assert.All(timeOnly.Out, line =>
        {
            var sent = JsonDocument.Parse(line).RootElement.GetProperty("sentTime").GetDateTimeOffset();
            Assert.InRange(sent, since, until);
        });
        // The index answers the same range directly: every offset the CLI replayed is in it (asked after the CLI ran, the
        // index may also hold other tests' events of that range that were indexed since).
        var offsets = await bed.Index().QueryAsync(new ArchiveQuery { Since = since, Until = until });
        Assert.Subset(offsets!.ToHashSet(), timeOnly.Out.Select(OffsetOf).ToHashSet());
    }

    [Fact]
    public async Task Group_rollout_and_policy_queries_match_replay_of_a_dump_of_the_same_stream()
    {
        await using var bed = await StartAsync();
        var (chat, feedback, other) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var (group, otherGroup) = ($"chatcmpl-g-{chat:N}", $"chatcmpl-o-{other:N}");
        var (rollouts, otherRollouts) = (NewIds(4), NewIds(4));
        // A version no other test publishes: their events land in this stream too.
        var policy = Random.Shared.NextInt64(1_000_000, long.MaxValue / 2);
        var expected = new List<Guid>();
        for (var i = 0; i < 4; i++)
        {
            expected.Add(await bed.PublishAsync(Rollout(rollouts[i], group, i, policy), chat));
            await bed.PublishAsync(Rollout(otherRollouts[i], otherGroup, i, policy + 1), other);
        }

        expected.Add(await bed.PublishAsync(Ranking(group, rollouts), feedback));
        await bed.PublishAsync(Ranking(otherGroup, otherRollouts), other);
        // A score that names the rollout but not the group still belongs to the group.
        expected.Add(await bed.PublishAsync(Score(rollouts[2], "", policy), chat));
        await bed.PublishAsync(Score(otherRollouts[2], otherGroup, policy + 1), other);
        Assert.Equal(0, (await RunCliAsync(Index(bed))).Code);
        var dump = Path.Combine(Path.GetTempPath(), $"rlhf-archive-dump-{Guid.NewGuid():N}.jsonl");
        try
        {
            Assert.Equal(0, (await RunCliAsync(["archive", "dump", "--rabbitmq", RabbitMq.ToString(), "--queue", bed.Queue, "--out", dump])).Code);
            string[][] filters =
            [
                ["--group-id", group],
                ["--rollout-id", rollouts[2].ToString()],
                ["--policy-version", policy.ToString(CultureInfo.InvariantCulture)],
                ["--group-id", group, "--type", nameof(RankingSubmitted), "--type", nameof(RolloutScored)],
            ];
            foreach (var filter in filters)
            {
                var fromArchive = await RunCliAsync(Replay(bed, filter));
                var fromDump = await RunCliAsync(["replay", "--events", dump, .. filter]);
                Assert.True(fromArchive.Code == 0, fromArchive.Error);
                Assert.NotEmpty(fromArchive.Out);
                Assert.Equal(fromDump.Out, fromArchive.Out);
            }

            Assert.Equal(expected, (await RunCliAsync(Replay(bed, "--group-id", group))).Out.Select(MessageId));
            Assert.Equal([expected[2], expected[4], expected[5]], (await RunCliAsync(Replay(bed, "--rollout-id", rollouts[2].ToString()))).Out.Select(MessageId));
            Assert.Equal([.. expected.Take(4), expected[5]], (await RunCliAsync(Replay(bed, "--policy-version", policy.ToString(CultureInfo.InvariantCulture)))).Out.Select(MessageId));
        }
        finally
        {
            File.Delete(dump);
        }
    }

    [Fact]
    public async Task Replay_needs_exactly_one_of_events_and_archive()
    {
        var neither = await RunCliAsync("replay", "--group-id", "g1");
        var both = await RunCliAsync("replay", "--events", "x.jsonl", "--archive");
        Assert.NotEqual(0, neither.Code);
        Assert.Contains("Give either --events FILE or --archive.", neither.Error, StringComparison.Ordinal);
        Assert.NotEqual(0, both.Code);
        Assert.Contains("Give either --events FILE or --archive.", both.Error, StringComparison.Ordinal);
    }
}
