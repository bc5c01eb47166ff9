using System.Globalization;
using Rlhf.Contracts;
using StackExchange.Redis;

namespace Rlhf.Storage;

/// <summary>
/// Live feedback in Redis: <c>{prefix}release:canary:{c}:seen</c> (set of counted feedback ids) and
/// <c>{prefix}release:canary:{c}:version:{v}</c> (hash of sums), both expiring after <c>ttl</c>; one Lua script checks
/// the id and adds to the sums, so a judgement is never half counted or counted twice.
/// </summary>
public sealed class RedisLiveFeedbackStore(IConnectionMultiplexer redis, string keyPrefix, TimeSpan ttl) : ILiveFeedbackStore
{
    // KEYS: seen, sums. ARGV: feedback id, ttl seconds, score, score^2, thumbs up, thumbs, stars sum, stars, rank sum, ranked,
    // scored (1 when the judgement has a score, 0 for a rank position only).
    const string AddScript = """
        if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
          return 0
        end
        redis.call('HINCRBY', KEYS[2], 'judgements', ARGV[11])
        redis.call('HINCRBYFLOAT', KEYS[2], 'score_sum', ARGV[3])
        redis.call('HINCRBYFLOAT', KEYS[2], 'score_square_sum', ARGV[4])
        redis.call('HINCRBY', KEYS[2], 'thumbs_up', ARGV[5])
        redis.call('HINCRBY', KEYS[2], 'thumbs', ARGV[6])
        redis.call('HINCRBY', KEYS[2], 'star_sum', ARGV[7])
        redis.call('HINCRBY', KEYS[2], 'stars', ARGV[8])
        redis.call('HINCRBYFLOAT', KEYS[2], 'rank_position_sum', ARGV[9])
        redis.call('HINCRBY', KEYS[2], 'ranked', ARGV[10])
        redis.call('EXPIRE', KEYS[1], ARGV[2])
        redis.call('EXPIRE', KEYS[2], ARGV[2])
        return 1
        """;

    public async Task<bool> AddAsync(long canaryVersion, long version, Guid feedbackId, LiveJudgement judgement, CancellationToken cancellationToken = default)
    {
        LiveFeedbackGuards.ThrowIfInvalid(judgement);
        cancellationToken.ThrowIfCancellationRequested();
        static string F(double value) => value.ToString("R", CultureInfo.InvariantCulture);
        var added = (long)await redis.GetDatabase().ScriptEvaluateAsync(AddScript,
            [Key(canaryVersion, "seen"), Key(canaryVersion, $"version:{version}")],
            [
                feedbackId.ToString("N"), (long)Math.Ceiling(ttl.TotalSeconds), F(judgement.Score ?? 0), F((judgement.Score ?? 0) * (judgement.Score ?? 0)),
                judgement.Thumb ?? 0, judgement.Thumb is null ? 0 : 1, judgement.Stars ?? 0, judgement.Stars is null ? 0 : 1,
                F(judgement.RankPosition ?? 0), judgement.RankPosition is null ? 0 : 1, judgement.Score is null ? 0 : 1,
            ]);
        return added == 1;
    }

    public async Task<LiveFeedback> GetAsync(long canaryVersion, long version, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var fields = (await redis.GetDatabase().HashGetAllAsync(Key(canaryVersion, $"version:{version}")))
            .ToDictionary(e => e.Name.ToString(), e => double.Parse(e.Value.ToString(), CultureInfo.InvariantCulture));
        double Get(string name) => fields.GetValueOrDefault(name);
        return new LiveFeedback(version, (long)Get("judgements"), Get("score_sum"), Get("score_square_sum"), (long)Get("thumbs_up"),
            (long)Get("thumbs"), Get("star_sum"), (long)Get("stars"), Get("rank_position_sum"), (long)Get("ranked"));
    }

    RedisKey Key(long canaryVersion, string suffix) => $"{keyPrefix}release:canary:{canaryVersion}:{suffix}";
}
