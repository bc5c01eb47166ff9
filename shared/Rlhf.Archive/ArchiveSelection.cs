using System.Runtime.CompilerServices;
using System.Text.Json;
using RabbitMQ.Client;
using Rlhf.Contracts;
using StackExchange.Redis;

namespace Rlhf.Archive;

/// <summary>
/// <c>rlhf replay --archive</c>'s input: the archive stream's events that match a filter, found through the Redis index
/// (<see cref="ArchiveIndex"/>) instead of a scan. The index names the offsets; the stream is attached at the smallest,
/// entries in between are skipped, and reading stops after the largest. Offsets further apart than
/// <see cref="ReattachGap"/> start a new attach, so a sparse selection reads about one chunk per event, not the span.
/// Each entry read is checked against the filter once more (exact time bounds, group semantics), and written in the
/// <c>rlhf archive dump</c> line layout.
/// </summary>
public static class ArchiveSelection
{
    /// <summary>Gaps between wanted offsets longer than this are jumped by attaching the stream again.</summary>
    public const long ReattachGap = 2_000;

    /// <summary>How long a read waits for the next entry before it gives up on offsets the stream no longer delivers.</summary>
    public static readonly TimeSpan Idle = TimeSpan.FromSeconds(5);

    public static ArchiveQuery ToQuery(EventFilter filter) => new()
    {
        Types = filter.Types,
        CorrelationId = filter.CorrelationId,
        GroupId = filter.GroupId,
        RolloutId = filter.RolloutId,
        PolicyVersion = filter.PolicyVersion,
        Since = filter.Since,
        Until = filter.Until,
    };

    /// <summary>The matching events, in stream order, as <c>rlhf archive dump</c> lines.</summary>
    public static async IAsyncEnumerable<string> SelectAsync(ArchiveSource source, EventFilter filter, ArchiveSelectionStats stats,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var redis = await source.ConnectRedisAsync();
        var index = source.Index(redis);
        filter = filter with { Erased = await new Rlhf.Storage.RedisErasureStore(redis, source.KeyPrefix).LoadAllAsync(cancellationToken) };
        var offsets = await index.QueryAsync(ToQuery(filter));
        if (filter.GroupId is { } group)
            filter = filter with { GroupRollouts = await index.GroupRolloutsAsync(group) };
        stats.Indexed = offsets?.Count;
        if (offsets is { Count: 0 })
            yield break;

        await using var connection = await BrokerConnection.ConnectAsync(source.RabbitMq, "rlhf-replay", TimeSpan.FromSeconds(5), cancellationToken);
        if (offsets is null)
        {
            await foreach (var line in ReadRunAsync(connection, source.Queue, "first", null, null, filter, stats, cancellationToken))
                yield return line;
            yield break;
        }

        await foreach (var line in ReadOffsetsAsync(connection, source.Queue, offsets, filter, stats, cancellationToken))
            yield return line;
    }

    /// <summary>
    /// The rankings that match <paramref name="filter"/> (its policy version applies to rollouts, as for an event log), then
    /// the RolloutGenerated events of their groups, found by group in the index wherever they lie in the stream.
    /// </summary>
    public static async IAsyncEnumerable<string> SelectRankingsWithRolloutsAsync(ArchiveSource source, EventFilter filter, ArchiveSelectionStats stats,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var rankings = filter with { PolicyVersion = null, Types = new HashSet<string> { nameof(RankingSubmitted) } };
        var groups = new SortedSet<string>(StringComparer.Ordinal);
        await foreach (var line in SelectAsync(source, rankings, stats, cancellationToken))
        {
            using (var document = JsonDocument.Parse(line))
                if (document.RootElement.GetProperty("message").TryGetProperty("groupId", out var group) && group.GetString() is { } id)
                    groups.Add(id);
            yield return line;
        }

        if (groups.Count == 0)
            yield break;
        await using var redis = await source.ConnectRedisAsync();
        var index = source.Index(redis);
        var offsets = new SortedSet<long>();
        var generated = new HashSet<string> { nameof(RolloutGenerated) };
        foreach (var group in groups)
            offsets.UnionWith(await index.QueryAsync(new ArchiveQuery { GroupId = group, Types = generated }) ?? []);
        await using var connection = await BrokerConnection.ConnectAsync(source.RabbitMq, "rlhf-export", TimeSpan.FromSeconds(5), cancellationToken);
        await foreach (var line in ReadOffsetsAsync(connection, source.Queue, [.. offsets], new EventFilter { Types = generated }, stats, cancellationToken))
            yield return line;
    }

    /// <summary>The entries at <paramref name="offsets"/> (ascending) that match <paramref name="filter"/>, as dump lines, in stream order.</summary>
    static async IAsyncEnumerable<string> ReadOffsetsAsync(IConnection connection, string queue, IReadOnlyList<long> offsets, EventFilter filter,
        ArchiveSelectionStats stats, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (offsets.Count == 0)
            yield break;
        foreach (var run in Runs(offsets))
            await foreach (var line in ReadRunAsync(connection, queue, run[0], run[^1], run.ToHashSet(), filter, stats, cancellationToken))
                yield return line;
    }

    /// <summary>Consecutive wanted offsets, split where two lie more than <see cref="ReattachGap"/> apart.</summary>
    static IEnumerable<List<long>> Runs(IReadOnlyList<long> offsets)
    {
        var run = new List<long> { offsets[0] };
        foreach (var offset in offsets.Skip(1))
        {
            if (offset - run[^1] > ReattachGap)
            {
                yield return run;
                run = [];
            }

            run.Add(offset);
        }

        yield return run;
    }

    static async IAsyncEnumerable<string> ReadRunAsync(IConnection connection, string queue, object from, long? last, HashSet<long>? wanted,
        EventFilter filter, ArchiveSelectionStats stats, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var prefetch = (ushort)Math.Clamp(wanted is null ? 500 : last!.Value - (long)from + 1, 1, 500);
        await using var stream = await ArchiveStream.OpenAsync(connection, queue, from, prefetch, cancellationToken);
        stats.Attaches++;
        while (await stream.ReadAsync(Idle, cancellationToken) is { } entry)
        {
            stats.Read++;
            if (wanted is null || wanted.Contains(entry.Offset))
            {
                foreach (var line in StreamArchiveReader.ToLines(entry.Body.Span, entry.Offset))
                {
                    if (Matches(filter, line))
                        yield return line;
                }
            }

            if (entry.Offset >= last)
                yield break;
        }
    }

    /// <summary><paramref name="filter"/> applied to one dump line, as <c>rlhf replay --events</c> applies it to a log line.</summary>
    public static bool Matches(EventFilter filter, string line)
    {
        using var document = JsonDocument.Parse(line);
        var root = document.RootElement;
        var type = root.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() ?? "unknown" : "unknown";
        var correlation = root.TryGetProperty("correlationId", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
        DateTimeOffset? sent = root.TryGetProperty("sentTime", out var s) && s.ValueKind == JsonValueKind.String && s.TryGetDateTimeOffset(out var time)
            ? time
            : null;
        var message = root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.Object ? m : default;
        if (message.ValueKind != JsonValueKind.Object)
            return false;
        return filter.Matches(new ArchivedEvent(0, line, type, correlation, sent, message));
    }

    /// <summary>
    /// Writes the selection (after skipping <paramref name="offset"/> matches, at most <paramref name="limit"/>) to
    /// <paramref name="outPath"/> (whole or not at all) or <paramref name="output"/>; a summary goes to <paramref name="error"/>.
    /// </summary>
    public static async Task<int> ReplayAsync(ArchiveSource source, EventFilter filter, int offset, int? limit, string? outPath,
        TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var partial = outPath is null ? null : outPath + ".partial";
        var stats = new ArchiveSelectionStats();
        int matched = 0, written = 0;
        try
        {
            return await source.ReportingFailuresAsync(error, async () =>
            {
                await using (var file = partial is null ? null : new StreamWriter(partial))
                {
                    var destination = file ?? output;
                    if (limit != 0)
                    {
                        await foreach (var line in SelectAsync(source, filter, stats, cancellationToken))
                        {
                            if (matched++ < offset)
                                continue;
                            await destination.WriteLineAsync(line);
                            if (++written == limit)
                                break;
                        }
                    }

                    await destination.FlushAsync(CancellationToken.None);
                }

                if (partial is not null)
                    File.Move(partial, outPath!, overwrite: true);
                await error.WriteLineAsync(
                    $"replayed {written} events from {source.Queue} ({matched} matched; " +
                    (stats.Indexed is { } indexed ? $"{indexed} offsets from the index under {source.KeyPrefix}archive:idx:" : "no indexed filter: whole stream") +
                    $", {stats.Read} stream entries read in {stats.Attaches} attaches)");
                return 0;
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return 1;
        }
        finally
        {
            if (partial is not null && File.Exists(partial))
                File.Delete(partial);
        }
    }
}
