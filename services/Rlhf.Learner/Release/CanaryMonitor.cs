using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Learner.Training;
using Rlhf.Storage;

namespace Rlhf.Learner.Release;

/// <summary>
/// Counts live feedback on the canary's and the champion's responses while a canary is live (each piece once, in Redis,
/// so a restarted learner goes on counting), asks <see cref="CanaryJudge"/> after each, and concludes the canary when the
/// verdict is final. Ratings are judgements; rankings add each ranked response's rank position (and a judgement of 0
/// when the rater marked all of them bad). Feedback on other versions, or while no canary is live, is not counted.
/// </summary>
public sealed class CanaryMonitor(LearnerEngine engine, IRolloutStore rollouts, ILiveFeedbackStore feedback, IOptions<LearnerOptions> options,
    ILogger<CanaryMonitor> logger)
{
    readonly CanaryOptions settings = options.Value.Canary;

    public async Task RecordAsync(RatingSubmitted rating, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        if (engine.LiveCanary is not { } canary || LiveJudgements.From(rating) is not { } judgement)
            return;
        var version = rating.PolicyVersion ?? (await rollouts.GetAsync(rating.RolloutId, cancellationToken))?.PolicyVersion;
        if (version != canary.Version && version != canary.ChampionVersion)
            return;
        if (await feedback.AddAsync(canary.Version, version.Value, rating.FeedbackId, judgement, cancellationToken))
            await JudgeAsync(canary, publisher, cancellationToken);
    }

    public async Task RecordAsync(RankingSubmitted ranking, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        if (engine.LiveCanary is not { } canary)
            return;
        var counted = false;
        foreach (var (rolloutId, judgement) in LiveJudgements.From(ranking))
        {
            var version = (await rollouts.GetAsync(rolloutId, cancellationToken))?.PolicyVersion;
            if (version != canary.Version && version != canary.ChampionVersion)
                continue;
            counted |= await feedback.AddAsync(canary.Version, version.Value, LiveJudgements.PerResponseId(ranking.FeedbackId, rolloutId), judgement,
                cancellationToken);
        }
        if (counted)
            await JudgeAsync(canary, publisher, cancellationToken);
    }

    async Task JudgeAsync(CanaryState canary, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        var (candidate, champion) = await feedback.ReadCanaryAsync(canary.Version, canary.ChampionVersion, cancellationToken);
        var verdict = CanaryJudge.Judge(candidate, champion, settings);
        if (verdict.Decision == CanaryDecision.Continue)
            return;
        logger.LogInformation("Canary {Canary}: {Decision} ({Reason})", canary.Version, verdict.Decision, verdict.Reason);
        await engine.ConcludeCanaryAsync(canary.Version, verdict.Decision == CanaryDecision.Promote ? CanaryOutcome.Promoted : CanaryOutcome.RolledBack,
            verdict.Reason, publisher, cancellationToken);
    }
}
