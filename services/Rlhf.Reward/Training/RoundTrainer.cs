using Rlhf.Reward.Gate;
using Rlhf.Training;

namespace Rlhf.Reward.Training;

/// <summary>
/// One training round and its gate, on a network and rankings whose owner (<see cref="RewardModelService"/>) holds
/// the lock: the champion is measured on the held-out set, the round trains the oldest
/// <see cref="RewardOptions.TrainEvery"/> fresh rankings plus a replay sample for <see cref="RewardOptions.StepsPerRound"/>
/// steps, the candidate is measured on the same held-out pairs, and the <see cref="RewardGate"/> decides. A rejected
/// round is undone at once: the champion's trainer state (weights, AdamW moments, RNG), saved before the round, is
/// loaded back, which is also what a restarted service loads. Either way the round's rankings leave the fresh queue
/// for replay, so the same feedback is not trained again as fresh.
/// </summary>
public sealed class RoundTrainer(RewardNetwork network, TrainingRankings rankings, RewardOptions options, RewardGateOptions gate, ILogger logger)
{
    /// <summary>Trains and judges one round as <paramref name="version"/> against <paramref name="champion"/>; null when no fresh ranking waits.</summary>
    public TrainedRound? Train(long version, RewardModelVersion? champion, CancellationToken cancellationToken)
    {
        var round = rankings.NextRound();
        if (round.Count == 0)
            return null;
        // The champion is measured before the round changes the weights, on the held-out pairs the candidate is measured on.
        var before = champion is not null && rankings.HeldOut.Count > 0 ? network.Evaluate(rankings.HeldOut) : null;
        var championState = before is { Pairs: > 0 } ? network.SaveTrainerState() : null;
        var loss = Steps([.. round.Select(r => r.Ranking)], version, cancellationToken);
        rankings.CompleteRound(round.Count);
        var after = rankings.HeldOut.Count > 0 ? network.Evaluate(rankings.HeldOut) : null;
        var candidate = new RewardModelVersion(version, after?.PairwiseAccuracy ?? double.NaN, loss, rankings.Trained, round[^1].Seq);
        var comparison = champion is not null && before is { Pairs: > 0 } && after is not null
            ? new HeldOutComparison(champion.Version, before.PairwiseAccuracy, after.PairwiseAccuracy, after.Pairs)
            : null;
        var verdict = champion is null ? RewardGate.FirstVersion : RewardGate.Judge(comparison, gate.MaxAccuracyDrop);
        if (!verdict.Promote)
        {
            network.LoadTrainerState(championState!);
            logger.LogWarning("Reward model candidate {Version} rejected ({Reason}); version {Champion} keeps scoring and training continues from its state",
                version, verdict.Reason, champion!.Version);
            return new TrainedRound(candidate, champion, verdict, comparison, null, null);
        }

        if (champion is not null && comparison is null)
            logger.LogInformation("Reward model {Version} promoted without a gate comparison: {Reason}", version, verdict.Reason);
        logger.LogInformation("Reward model {Version} trained: held-out pairwise accuracy {Accuracy:F3} on {HeldOut} rankings, loss {Loss:F4}",
            version, candidate.HeldOutAccuracy, rankings.HeldOut.Count, candidate.TrainingLoss);
        return new TrainedRound(candidate, champion, verdict, comparison, network.SaveWeights(), network.SaveTrainerState());
    }

    /// <summary>The round's optimizer steps, each on the round plus a replay sample; returns the mean loss of the applied steps (NaN when none applied).</summary>
    double Steps(IReadOnlyList<Ranking> round, long version, CancellationToken cancellationToken)
    {
        var losses = new List<double>();
        var sampler = new Random(RoundSeed(options.Seed, version));
        for (var step = 0; step < options.StepsPerRound; step++)
        {
            // A stopping host cancels here (between steps) instead of waiting for the whole round; the fresh
            // rankings stay queued for the next round, nothing was published.
            cancellationToken.ThrowIfCancellationRequested();
            var metrics = network.Step([.. round, .. rankings.SampleReplay(sampler)]);
            if (metrics.Applied)
                losses.Add(metrics.Loss);
        }

        return losses.Count > 0 ? losses.Average() : double.NaN;
    }

    /// <summary>
    /// Replay sampling is seeded per round from (seed, version), not by one generator over the process's life, so a
    /// restarted service samples what the uninterrupted one would have.
    /// </summary>
    static int RoundSeed(long seed, long version) => unchecked((int)(seed * 1_000_003 + version * 7_919));
}
