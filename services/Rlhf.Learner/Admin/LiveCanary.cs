using Rlhf.Contracts;
using Rlhf.Learner.Training;
using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Learner.Admin;

/// <summary>
/// The policy canary the registry holds, the champion it is served next to (the promoted version, which generation
/// serves to the rest of the traffic), and the live feedback on both sides counted during this canary.
/// </summary>
/// <param name="Record">The canary version's registry record.</param>
/// <param name="ChampionVersion">The promoted version (the canary's parent if nothing is promoted).</param>
/// <param name="Candidate">Live feedback on the canary's responses.</param>
/// <param name="Champion">Live feedback on the champion's responses over the same time.</param>
public sealed record LiveCanary(ModelVersionRecord Record, long ChampionVersion, LiveFeedback Candidate, LiveFeedback Champion)
{
    /// <summary>Reason recorded and published when an operator ends a canary without promoting it.</summary>
    public const string AbortReason = "aborted by an operator";

    public long Version => Record.Version;

    /// <summary>The live canary, or null when none is.</summary>
    public static async Task<LiveCanary?> ReadAsync(IModelRegistry registry, ILiveFeedbackStore feedback, ModelVersionRecord? promoted,
        CancellationToken cancellationToken)
    {
        if (await registry.GetCanaryAsync(ModelKind.Policy, cancellationToken) is not { } canary)
            return null;
        var champion = promoted?.Version ?? canary.ParentVersion ?? 0;
        var (candidateFeedback, championFeedback) = await feedback.ReadCanaryAsync(canary.Version, champion, cancellationToken);
        return new LiveCanary(canary, champion, candidateFeedback, championFeedback);
    }

    /// <summary>The event that tells services (and the archive) how this canary ended.</summary>
    public CanaryConcluded Concluded(CanaryOutcome outcome, string reason, DateTimeOffset now) =>
        new(Version, ChampionVersion, outcome, reason, Candidate, Champion, now);

    /// <summary>The line written once <see cref="Concluded"/> was confirmed (after "Published ").</summary>
    public static string Describe(CanaryConcluded concluded, string busDisplay) =>
        $"CanaryConcluded (canary {concluded.CandidateVersion}, champion {concluded.ChampionVersion}, {concluded.Outcome}, " +
        $"\"{concluded.Reason}\"; live judgements {concluded.Candidate.Judgements} vs {concluded.Champion.Judgements}) to {busDisplay}; " +
        "the broker confirmed it.";

    /// <summary>
    /// Step <paramref name="step"/>/<paramref name="total"/>: ends this canary without promoting it (compare-and-set in the
    /// registry; the promoted version stays) and records it as rejected with <paramref name="reason"/>. Null when both
    /// happened; otherwise the exit code, after writing why: <see cref="PolicyAction.Refused"/> when it was no longer
    /// the live canary (ended meanwhile, nothing changed), <see cref="PolicyAction.FailedPartway"/> when Redis failed.
    /// </summary>
    public async Task<int?> AbortAsync(IModelRegistry registry, string reason, DateTimeOffset now, int step, int total, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        bool ended;
        try
        {
            ended = await registry.ConcludeCanaryAsync(ModelKind.Policy, Version, promote: false, cancellationToken);
        }
        catch (RedisException e)
        {
            error.WriteLine($"error: step {step}/{total} (end canary {Version} in the registry) failed: {e.Message}. Nothing was published; canary " +
                $"{Version} is still live unless Redis applied the write before failing (check `rlhf policy status`).");
            return PolicyAction.FailedPartway;
        }

        if (!ended)
        {
            error.WriteLine($"error: policy version {Version} is no longer the live canary (it ended meanwhile; see `rlhf policy status`). " +
                PolicyAction.NothingChanged);
            return PolicyAction.Refused;
        }

        try
        {
            await registry.RecordRejectedAsync(new RejectedVersionRecord(ModelKind.Policy, Version, Record.ParentVersion, ChampionVersion, reason,
                Record.Metrics, now), cancellationToken);
        }
        catch (RedisException e)
        {
            error.WriteLine($"error: step {step}/{total} (record canary {Version} as rejected) failed: {e.Message}. Canary {Version} has ended in the " +
                $"registry (version {ChampionVersion} stays promoted) but carries no rejection record; nothing was published: generation keeps " +
                "serving it until it restarts or reads the registry on its next PolicyUpdated or CanaryConcluded.");
            return PolicyAction.FailedPartway;
        }

        output.WriteLine($"Ended canary {Version} in the registry without promoting it and recorded it as rejected (\"{reason}\"); " +
            $"live judgements so far: {Candidate.Judgements} of the canary's responses, {Champion.Judgements} of champion {ChampionVersion}'s.");
        return null;
    }

    /// <summary>The <see cref="PolicyUpdated"/> that promotes this canary: its weights and metrics, the champion as parent, not a rollback.</summary>
    public PolicyUpdated Promoted(DateTimeOffset now) =>
        new(Version, ChampionVersion, Record.Blob, PolicyRegistryMetrics.FromRegistry(Record.Metrics), IsRollback: false, now);
}
