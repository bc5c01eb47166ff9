using MassTransit;
using Rlhf.Reward.Scoring;
using Rlhf.Storage;

namespace Rlhf.Reward.Training;

/// <summary>
/// Trains the rounds that are due, one at a time (more than one with a backlog), each under a freshly reserved version
/// number, and publishes what the gate made of it: a new version, which this process's <see cref="ScoringModel"/> loads
/// at once (after which the rollouts that waited for the first one are scored), or a rejection.
/// </summary>
public sealed class TrainingRounds(
    RewardModelService rewardModel,
    IModelRegistry registry,
    RewardVersionPublisher versions,
    RewardRejectionPublisher rejections,
    ScoringModel scoring,
    RolloutScoring rollouts,
    Microsoft.Extensions.Options.IOptions<RewardOptions> options)
{
    // The round scheduler and a restore may find a round due at once: one trains, the other waits for it and finds
    // nothing left due, so no round is ever trained short.
    readonly SemaphoreSlim training = new(1, 1);

    public async Task TrainDueRoundsAsync(IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        await training.WaitAsync(cancellationToken);
        try
        {
            while (await rewardModel.RoundReadyAsync(cancellationToken))
                await TrainRoundAsync(publish, cancellationToken);
        }
        finally
        {
            training.Release();
        }
    }

    async Task TrainRoundAsync(IPublishEndpoint publish, CancellationToken cancellationToken)
    {
        var version = await registry.NextVersionAsync(ModelKind.Reward, cancellationToken);
        if (await rewardModel.TrainRoundAsync(version, cancellationToken) is not { } round)
            return;
        if (!round.Verdict.Promote)
        {
            await rejections.PublishAsync(round, publish, cancellationToken);
            return;
        }

        // This process scores with the new version before anyone hears of it, so whoever reacts to RewardModelUpdated
        // (a test, an operator's score request) finds it scoring here.
        await scoring.LoadAsync(round.Candidate.Version, round.Weights!, cancellationToken);
        await versions.PublishAsync(round, publish, cancellationToken);
        if (options.Value.Role == RewardRole.All)
            await rollouts.ScorePendingAsync(publish, cancellationToken);
    }
}
