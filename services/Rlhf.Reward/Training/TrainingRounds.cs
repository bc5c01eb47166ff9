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
    Microsoft.Extensions.Options.IOptions<RewardOptions> options,
    ILogger<TrainingRounds> logger)
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
            DrainPendingInBackground(publish);
    }

    /// <summary>
    /// The rollouts that waited for the first version (thousands, after a slow start) are scored apart from the training
    /// loop, so the next rounds do not wait for them (scoring them inside the loop held round 2 back for a minute in the demo).
    /// </summary>
    void DrainPendingInBackground(IPublishEndpoint publish) => _ = Task.Run(async () =>
    {
        try
        {
            await rollouts.ScorePendingAsync(publish, CancellationToken.None);
        }
        catch (Exception error)
        {
            logger.LogWarning(error, "Scoring the rollouts that waited for the first reward model failed; the next scored batch retries");
        }
    });
}
