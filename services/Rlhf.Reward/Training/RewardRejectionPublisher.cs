using MassTransit;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Reward.Training;

/// <summary>
/// Publishes a candidate the gate rejected: a <see cref="RejectedVersionRecord"/> in the registry (its numbers and the
/// champion's on the same held-out pairs), counted in <see cref="RewardStats.RejectedVersions"/>, then
/// <see cref="RewardModelRejected"/>. Its weights are not stored: nothing would ever serve them.
/// </summary>
public sealed class RewardRejectionPublisher(IModelRegistry registry, RewardStats stats, TimeProvider time)
{
    public async Task PublishAsync(TrainedRound round, IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        if (round is not { Comparison: { } comparison })
            throw new ArgumentException("A rejected round always has the comparison that rejected it.", nameof(round));
        var candidate = round.Candidate;
        var now = time.GetUtcNow();
        await registry.RecordRejectedAsync(new RejectedVersionRecord(ModelKind.Reward, candidate.Version, comparison.ChampionVersion,
            comparison.ChampionVersion, round.Verdict.Reason, RewardRegistryMetrics.Of(candidate, comparison), now), cancellationToken);
        Interlocked.Increment(ref stats.RejectedVersions);
        await publish.Publish(new RewardModelRejected(candidate.Version, comparison.ChampionVersion, comparison.CandidateAccuracy,
            comparison.ChampionAccuracy, comparison.Pairs, round.Verdict.Reason, now), cancellationToken);
    }
}
