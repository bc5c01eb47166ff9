using Rlhf.Contracts;

namespace Rlhf.Storage;

/// <summary>In-process twin of <see cref="RedisLiveFeedbackStore"/>.</summary>
public sealed class InMemoryLiveFeedbackStore : ILiveFeedbackStore
{
    readonly Lock gate = new();
    readonly HashSet<(long Canary, Guid Feedback)> seen = [];
    readonly Dictionary<(long Canary, long Version), LiveFeedback> sums = [];

    public Task<bool> AddAsync(long canaryVersion, long version, Guid feedbackId, LiveJudgement judgement, CancellationToken cancellationToken = default)
    {
        LiveFeedbackGuards.ThrowIfInvalid(judgement);
        lock (gate)
        {
            if (!seen.Add((canaryVersion, feedbackId)))
                return Task.FromResult(false);
            var current = sums.GetValueOrDefault((canaryVersion, version)) ?? LiveFeedback.Empty(version);
            sums[(canaryVersion, version)] = LiveFeedbackGuards.Add(current, judgement);
            return Task.FromResult(true);
        }
    }

    public Task<LiveFeedback> GetAsync(long canaryVersion, long version, CancellationToken cancellationToken = default)
    {
        lock (gate)
            return Task.FromResult(sums.GetValueOrDefault((canaryVersion, version)) ?? LiveFeedback.Empty(version));
    }
}
