using System.Globalization;
using RabbitMQ.Client;
using StackExchange.Redis;

namespace Rlhf.Archive;

/// <summary>
/// A Redis index of the archive stream (<see cref="EventArchive"/>), so replay finds events without scanning the stream.
/// Under <c>{Redis:KeyPrefix}archive:idx:</c>, sorted sets whose members are stream offsets:
/// <c>corr:{correlation id}</c>, <c>group:{group id}</c>, <c>rollout:{rollout id}</c> (every rollout an event names,
/// ranking tiers included), <c>policy:{version}</c>, <c>type:{event type}</c>, all scored by offset, and <c>time</c> scored
/// by sent time in ms; <c>group-rollouts:{group id}</c> holds the rollout ids a group's <c>RolloutGenerated</c> events
/// name. <c>meta</c> (hash) keeps the archive's queue name, the next offset to index (monotonic, so the indexer resumes
/// there) and the oldest offset kept.
/// <para>
/// Writes: one MULTI/EXEC per batch (entries and pointer together), ZADD of (offset, offset) pairs, so indexing the
/// same offsets again changes nothing. Lookups: O(log n + k) per set (ZRANGEBYSCORE from the oldest kept offset); a
/// query materializes its smallest criterion and checks the others with ZMSCORE, O(k log n), so a selective filter
/// never reads a large set. Memory: about 0.4-0.6 kB per event (time, type and policy entries in large skiplist
/// sets, the per-request sets small listpacks plus their key), i.e. 1 M events need about 0.5 GB.
/// </para>
/// <para>
/// Retention: the stream drops whole segments from its front. On each run (and every <see cref="TrimInterval"/> while
/// it runs) the indexer reads the stream's first offset F and removes what lies before it: every per-request key whose
/// newest entry is older than F (the <c>keys</c> registry scores each key by its newest offset), the entries below F of
/// the long-lived type and policy sets, and time entries below F sent up to <see cref="TimeTrimMargin"/> after the
/// oldest kept event. Queries never return offsets below F.
/// </para>
/// </summary>
public sealed class ArchiveIndex(IConnectionMultiplexer redis, string keyPrefix, string queue)
{
    /// <summary>Entries written per transaction.</summary>
    public const int BatchSize = 500;

    /// <summary>How long a partial batch waits for more entries before it is written.</summary>
    public static readonly TimeSpan FlushDelay = TimeSpan.FromMilliseconds(200);

    /// <summary>How often a continuous run trims entries the stream no longer holds.</summary>
    public static readonly TimeSpan TrimInterval = TimeSpan.FromMinutes(10);

    /// <summary>Clock skew between publishers tolerated when trimming the time set.</summary>
    public static readonly TimeSpan TimeTrimMargin = TimeSpan.FromMinutes(5);

    const string MonotonicNext = """
        local current = tonumber(redis.call('HGET', KEYS[1], 'next') or '-1')
        if tonumber(ARGV[1]) > current then redis.call('HSET', KEYS[1], 'next', ARGV[1]) end
        return 1
        """;

    readonly IDatabase db = redis.GetDatabase();
    bool claimed;

    public string Queue => queue;

    /// <summary><c>{Redis:KeyPrefix}archive:idx:</c>.</summary>
    public string Prefix { get; } = keyPrefix + "archive:idx:";

    RedisKey Key(string suffix) => Prefix + suffix;

    RedisKey Meta => Key("meta");

    RedisKey Registry => Key("keys");

    RedisKey LongLived => Key("long-lived");

    RedisKey TimeSet => Key("time");

    static string CorrelationKey(string correlation) => "corr:" + ArchiveIndexedEvent.NormalizeCorrelation(correlation);

    static string GroupKey(string group) => "group:" + group;

    static string GroupRolloutsKey(string group) => "group-rollouts:" + group;

    static string RolloutKey(Guid rollout) => "rollout:" + rollout.ToString("D");

    static string PolicyKey(long version) => "policy:" + version.ToString(CultureInfo.InvariantCulture);

    static string TypeKey(string type) => "type:" + type;

    static RedisValue Member(long offset) => offset.ToString(CultureInfo.InvariantCulture);

    public async Task<ArchiveIndexState> StateAsync()
    {
        var values = await db.HashGetAsync(Meta, ["queue", "next", "first"]);
        return new ArchiveIndexState(values[0].IsNull ? null : (string?)values[0], AsLong(values[1]), AsLong(values[2]));
    }

    static long? AsLong(RedisValue value) => value.IsNull ? null : (long)value;

    /// <summary>Records <see cref="Queue"/> as this index's archive; an index under the same prefix for another queue is refused.</summary>
    async Task ClaimAsync()
    {
        if (claimed)
            return;
        await db.HashSetAsync(Meta, "queue", queue, When.NotExists);
        var owner = (string?)await db.HashGetAsync(Meta, "queue");
        if (owner != queue)
            throw new InvalidOperationException(
                $"The archive index under '{Prefix}' belongs to queue '{owner}', not '{queue}'; use another Redis:KeyPrefix.");
        claimed = true;
    }

    /// <summary>
    /// Indexes <paramref name="batch"/> in one transaction and moves the next-offset pointer past it (never back).
    /// Entries that are not MassTransit JSON envelopes are skipped. Returns the number of events indexed.
    /// </summary>
    public async Task<int> IndexAsync(IReadOnlyList<ArchiveEntry> batch)
    {
        if (batch.Count == 0)
            return 0;
        await ClaimAsync();
        var transaction = db.CreateTransaction();
        var indexed = 0;
        foreach (var e in batch.SelectMany(entry => ArchiveIndexedEvent.Parse(entry)))
        {
            indexed++;
            var member = Member(e.Offset);
            _ = transaction.SortedSetAddAsync(Key(TypeKey(e.Type)), member, e.Offset);
            _ = transaction.SetAddAsync(LongLived, TypeKey(e.Type));
            if (e.PolicyVersion is { } version)
            {
                _ = transaction.SortedSetAddAsync(Key(PolicyKey(version)), member, e.Offset);
                _ = transaction.SetAddAsync(LongLived, PolicyKey(version));
            }

            if (e.SentTime is { } sent)
                _ = transaction.SortedSetAddAsync(TimeSet, member, sent.ToUnixTimeMilliseconds());
            if (e.CorrelationId is { } correlation)
                AddShortLived(transaction, CorrelationKey(correlation), member, e.Offset);
            if (e.GroupId is { } group)
            {
                AddShortLived(transaction, GroupKey(group), member, e.Offset);
                if (e.Type == nameof(Contracts.RolloutGenerated))
                    foreach (var rollout in e.RolloutIds)
                        AddShortLived(transaction, GroupRolloutsKey(group), rollout.ToString("D"), e.Offset);
            }

            foreach (var rollout in e.RolloutIds.Distinct())
                AddShortLived(transaction, RolloutKey(rollout), member, e.Offset);
        }

        _ = transaction.ScriptEvaluateAsync(MonotonicNext, [Meta], [batch[^1].Offset + 1]);
        if (!await transaction.ExecuteAsync())
            throw new InvalidOperationException($"The archive index transaction under '{Prefix}' was not applied.");
        return indexed;
    }

    /// <summary>A per-request set, registered with its newest offset so that <see cref="TrimAsync(long)"/> can drop it whole.</summary>
    void AddShortLived(ITransaction transaction, string suffix, RedisValue member, long offset)
    {
        _ = transaction.SortedSetAddAsync(Key(suffix), member, offset);
        _ = transaction.SortedSetAddAsync(Registry, suffix, offset, SortedSetWhen.GreaterThan);
    }

    /// <summary>Removes what the index holds for offsets below <paramref name="firstOffset"/>; returns the number of keys deleted.</summary>
    public async Task<long> TrimAsync(long firstOffset)
    {
        long deleted = 0;
        while (true)
        {
            var stale = await db.SortedSetRangeByScoreAsync(Registry, double.NegativeInfinity, firstOffset, Exclude.Stop, take: 1000);
            if (stale.Length == 0)
                break;
            var batch = db.CreateBatch();
            var deletes = batch.KeyDeleteAsync([.. stale.Select(s => Key((string)s!))]);
            var unregister = batch.SortedSetRemoveAsync(Registry, stale);
            batch.Execute();
            deleted += await deletes;
            await unregister;
        }

        foreach (var suffix in await db.SetMembersAsync(LongLived))
        {
            var key = Key((string)suffix!);
            await db.SortedSetRemoveRangeByScoreAsync(key, double.NegativeInfinity, firstOffset, Exclude.Stop);
            if (await db.SortedSetLengthAsync(key) == 0)
                await db.SetRemoveAsync(LongLived, suffix);
        }

        if (await db.SortedSetScoreAsync(TimeSet, Member(firstOffset)) is { } oldestKept)
        {
            var early = await db.SortedSetRangeByScoreAsync(TimeSet, double.NegativeInfinity, oldestKept + TimeTrimMargin.TotalMilliseconds);
            var before = early.Where(m => (long)m < firstOffset).ToArray();
            if (before.Length > 0)
                await db.SortedSetRemoveAsync(TimeSet, before);
        }

        await db.HashSetAsync(Meta, "first", firstOffset);
        return deleted;
    }

    /// <summary>
    /// Reads the stream from the next offset to index (the first one when the index is new) and indexes it in batches of
    /// up to <see cref="BatchSize"/>; trims entries the stream no longer holds first. With <paramref name="stopWhenIdle"/>
    /// it returns once no entry arrived for that long (a catch-up); without, it runs until cancelled.
    /// </summary>
    public async Task<ArchiveIndexRun> RunAsync(IConnection connection, TimeSpan? stopWhenIdle, CancellationToken cancellationToken)
    {
        await ClaimAsync();
        var streamFirst = await ArchiveStream.FirstOffsetAsync(connection, queue, TimeSpan.FromSeconds(2), cancellationToken);
        var trimmed = streamFirst is { } first ? await TrimAsync(first) : 0;
        var from = (await StateAsync()).NextOffset;
        await using var stream = await ArchiveStream.OpenAsync(connection, queue, from is { } next ? next : "first", BatchSize, cancellationToken);
        var batch = new List<ArchiveEntry>(BatchSize);
        long indexed = 0;
        var lastTrim = DateTime.UtcNow;
        while (true)
        {
            var wait = batch.Count > 0 ? FlushDelay : stopWhenIdle ?? TrimInterval;
            var entry = await stream.ReadAsync(wait, cancellationToken);
            if (entry is { } read)
                batch.Add(read);
            if (batch.Count > 0 && (entry is null || batch.Count >= BatchSize))
            {
                indexed += await IndexAsync(batch);
                batch.Clear();
            }
            else if (entry is null && stopWhenIdle is not null)
            {
                break;
            }

            if (stopWhenIdle is null && DateTime.UtcNow - lastTrim > TrimInterval)
            {
                lastTrim = DateTime.UtcNow;
                if (await ArchiveStream.FirstOffsetAsync(connection, queue, TimeSpan.FromSeconds(2), cancellationToken) is { } oldest)
                    trimmed += await TrimAsync(oldest);
            }
        }

        return new ArchiveIndexRun(indexed, from, (await StateAsync()).NextOffset, streamFirst, trimmed);
    }

    /// <summary>
    /// The offsets of the events that match <paramref name="query"/>, ascending; null when the query has no criterion at
    /// all (every event matches: read the whole stream). Offsets below the oldest the index keeps are never returned.
    /// </summary>
    public async Task<IReadOnlyList<long>?> QueryAsync(ArchiveQuery query)
    {
        if (!query.HasKeyCriteria && !query.HasTimeRange)
            return null;
        var floor = (await StateAsync()).FirstOffset ?? 0;
        var criteria = new List<Criterion>();
        if (query.CorrelationId is { } correlation)
            criteria.Add(new KeysCriterion(this, [Key(CorrelationKey(correlation))]));
        if (query.RolloutId is { } rolloutId)
            criteria.Add(new KeysCriterion(this, [Key(RolloutKey(rolloutId))]));
        if (query.GroupId is { } group)
        {
            var rollouts = await db.SortedSetRangeByRankAsync(Key(GroupRolloutsKey(group)));
            criteria.Add(new KeysCriterion(this, [Key(GroupKey(group)), .. rollouts.Select(r => Key("rollout:" + (string)r!))]));
        }

        if (query.PolicyVersion is { } version)
            criteria.Add(new KeysCriterion(this, [Key(PolicyKey(version))]));
        if (query.Types is { Count: > 0 } types)
            criteria.Add(new KeysCriterion(this, [.. types.Select(t => Key(TypeKey(t)))]));
        if (query.HasTimeRange)
        {
            // Sent times are kept in whole ms: a bound inside a millisecond widens the range to it (callers that need the
            // exact bound check the event's own time).
            var until = query.Until is { } end
                ? end.ToUnixTimeMilliseconds() + (end.UtcTicks % TimeSpan.TicksPerMillisecond == 0 ? 0 : 1)
                : double.PositiveInfinity;
            criteria.Add(new TimeCriterion(this, query.Since?.ToUnixTimeMilliseconds() ?? double.NegativeInfinity, until));
        }

        var sizes = await Task.WhenAll(criteria.Select(c => c.CountAsync(floor)));
        var ordered = criteria.Zip(sizes).OrderBy(p => p.Second).Select(p => p.First).ToList();
        var offsets = await ordered[0].ReadAsync(floor);
        foreach (var criterion in ordered.Skip(1))
        {
            if (offsets.Length == 0)
                break;
            offsets = await criterion.KeepAsync(offsets);
        }

        return offsets;
    }

    /// <summary>The rollouts the <c>RolloutGenerated</c> events of <paramref name="group"/> name.</summary>
    public async Task<IReadOnlySet<Guid>> GroupRolloutsAsync(string group)
    {
        var members = await db.SortedSetRangeByRankAsync(Key(GroupRolloutsKey(group)));
        return members.Select(m => Guid.Parse((string)m!)).ToHashSet();
    }

    static long[] Offsets(IEnumerable<RedisValue> members) => [.. members.Select(m => (long)m)];

    /// <summary>One criterion of a query: how many offsets it holds, those offsets, or which of some offsets it holds.</summary>
    abstract class Criterion
    {
        public abstract Task<long> CountAsync(long floor);

        public abstract Task<long[]> ReadAsync(long floor);

        public abstract Task<long[]> KeepAsync(long[] candidates);

        protected static IEnumerable<long[]> Chunks(long[] candidates) => candidates.Chunk(1000);
    }

    /// <summary>Offsets in any of <paramref name="keys"/> (a union).</summary>
    sealed class KeysCriterion(ArchiveIndex index, RedisKey[] keys) : Criterion
    {
        public override async Task<long> CountAsync(long floor)
        {
            var counts = await Task.WhenAll(keys.Select(k => index.db.SortedSetLengthAsync(k, floor, double.PositiveInfinity)));
            return counts.Sum();
        }

        public override async Task<long[]> ReadAsync(long floor)
        {
            var sets = await Task.WhenAll(keys.Select(k => index.db.SortedSetRangeByScoreAsync(k, floor, double.PositiveInfinity)));
            return [.. sets.SelectMany(Offsets).Distinct().Order()];
        }

        public override async Task<long[]> KeepAsync(long[] candidates)
        {
            var kept = new List<long>(candidates.Length);
            foreach (var chunk in Chunks(candidates))
            {
                var members = chunk.Select(Member).ToArray();
                var scores = await Task.WhenAll(keys.Select(k => index.db.SortedSetScoresAsync(k, members)));
                for (var i = 0; i < chunk.Length; i++)
                    if (scores.Any(s => s[i] is not null))
                        kept.Add(chunk[i]);
            }

            return [.. kept];
        }
    }

    /// <summary>Offsets whose sent time (ms) is in [<paramref name="since"/>, <paramref name="until"/>).</summary>
    sealed class TimeCriterion(ArchiveIndex index, double since, double until) : Criterion
    {
        public override Task<long> CountAsync(long floor) => index.db.SortedSetLengthAsync(index.TimeSet, since, until, Exclude.Stop);

        public override async Task<long[]> ReadAsync(long floor)
        {
            var members = await index.db.SortedSetRangeByScoreAsync(index.TimeSet, since, until, Exclude.Stop);
            return [.. Offsets(members).Where(o => o >= floor).Order()];
        }

        public override async Task<long[]> KeepAsync(long[] candidates)
        {
            var kept = new List<long>(candidates.Length);
            foreach (var chunk in Chunks(candidates))
            {
                var scores = await index.db.SortedSetScoresAsync(index.TimeSet, chunk.Select(Member).ToArray());
                for (var i = 0; i < chunk.Length; i++)
                    if (scores[i] is { } ms && ms >= since && ms < until)
                        kept.Add(chunk[i]);
            }

            return [.. kept];
        }
    }
}
