using MassTransit;
using Rlhf.Learner.Release;

namespace Rlhf.Learner.Training;

/// <summary>
/// The one sequence every training batch goes through, PPO or SFT:
/// <list type="number">
/// <item>finish the effects of the last checkpoint if a crash or an outage interrupted them;</item>
/// <item>admit the batch (the step drops duplicates and unusable messages, and the batch is counted);</item>
/// <item>train one step; a skipped or failed step restores the last checkpoint's weights;</item>
/// <item>judge the candidate with the gate (skipped while a canary is live: the step's weights are kept, claimed, and
/// offer no version until the canary ends);</item>
/// <item>ask the step again which items a user's deletion covers; if any, restore the weights and train again without them;</item>
/// <item>commit: a checkpoint for the new version or the rejection, then its effects;</item>
/// <item>show the verdict to the reward-hacking alarm.</item>
/// </list>
/// Callers run one batch at a time (the engine's lock).
/// </summary>
public sealed class TrainingSequencer(IVersionCommitter committer, IPolicyGate gate, ILogger<TrainingSequencer> logger, RewardHackingAlarm? alarm = null)
{
    volatile bool training;

    /// <summary>True while a step is training (shown by the status API).</summary>
    public bool Training => training;

    public async Task RunAsync<TMessage, TItem>(ITrainingStep<TMessage, TItem> step, IReadOnlyList<TMessage> batch, IPublishEndpoint publisher,
        CancellationToken cancellationToken)
    {
        await committer.CompleteEffectsAsync(publisher, cancellationToken);
        var admitted = await step.AdmitAsync(batch, cancellationToken);
        committer.Count(admitted.CountBatch);

        GateCandidate candidate;
        GateVerdict verdict;
        while (true)
        {
            if (admitted.Items.Count == 0)
            {
                logger.LogInformation("Nothing to train on in a {Step} batch of {Count}", step.Name, batch.Count);
                return;
            }

            training = true;
            try
            {
                var result = step.Train(admitted.Items);
                if (result.Candidate is null)
                {
                    committer.Restore();
                    committer.Count(c => c with { SkippedSteps = c.SkippedSteps + 1 });
                    logger.LogWarning("{Step} step skipped ({Reason}); weights unchanged", step.Name, result.SkipReason);
                    return;
                }

                candidate = result.Candidate;
                var hold = await committer.HoldReasonAsync(cancellationToken);
                verdict = hold is null ? await gate.JudgeAsync(candidate, cancellationToken) : GateVerdict.Pass;

                // A user's data deleted while the step trained or was judged never reaches a checkpoint: undo the step
                // and train again on the rest (asked last, so the window left is the commit itself).
                var kept = await step.WithoutErasedAsync(admitted, cancellationToken);
                if (!ReferenceEquals(kept, admitted))
                {
                    committer.Restore();
                    committer.Count(kept.CountBatch);
                    logger.LogInformation("{Step} step undone: {Erased} of its items belong to a deleted user; training again on {Kept}",
                        step.Name, admitted.Items.Count - kept.Items.Count, kept.Items.Count);
                    admitted = kept;
                    continue;
                }

                if (hold is not null)
                {
                    logger.LogInformation("{Step} step kept without a gate or a version: {Hold}", step.Name, hold);
                    training = false;
                    await committer.ContinueAsync(admitted.ClaimKeys, admitted.CountTrained, publisher, cancellationToken);
                    return;
                }

                break;
            }
            catch
            {
                committer.Restore();
                throw;
            }
            finally
            {
                training = false;
            }
        }

        await committer.CommitAsync(candidate, verdict, admitted.ClaimKeys, admitted.CountTrained, publisher, cancellationToken);
        if (alarm is not null)
            await alarm.ObserveAsync(candidate.Metrics.MeanReward, verdict, publisher, cancellationToken);
    }
}
