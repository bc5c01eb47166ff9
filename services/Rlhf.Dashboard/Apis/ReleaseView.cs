using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Dashboard.Apis;

/// <summary>
/// <c>GET /v1/dashboard/release</c>: what users are served and why, read from the model registry: the champion, the
/// canary with both sides' live feedback, the promotion pause (the reward-hacking alarm), and the latest rejections of
/// policy and reward-model candidates.
/// </summary>
public static class ReleaseView
{
    const int RecentRejections = 5;

    public static async Task<object> ReadAsync(IModelRegistry registry, ILiveFeedbackStore feedback, CancellationToken cancellationToken)
    {
        var promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken);
        var canary = await registry.GetCanaryAsync(ModelKind.Policy, cancellationToken);
        var pause = await registry.GetPromotionPauseAsync(ModelKind.Policy, cancellationToken);
        var rewardModel = await registry.GetPromotedAsync(ModelKind.Reward, cancellationToken);
        object? live = null;
        if (canary is not null && promoted is not null)
        {
            var (candidate, champion) = await feedback.ReadCanaryAsync(canary.Version, promoted.Version, cancellationToken);
            live = new { version = canary.Version, candidate = Side(candidate), champion = Side(champion) };
        }
        return new
        {
            champion_version = promoted?.Version,
            canary = live,
            canary_version = canary?.Version,
            promotion_pause = pause is null ? null : new { reason = pause.Reason, paused_at = pause.PausedAt },
            reward_model_version = rewardModel?.Version,
            policy_rejections = await RecentAsync(registry, ModelKind.Policy, cancellationToken),
            reward_model_rejections = await RecentAsync(registry, ModelKind.Reward, cancellationToken),
        };
    }

    static object Side(LiveFeedback feedback) => new
    {
        version = feedback.Version,
        judgements = feedback.Judgements,
        mean_score = feedback.MeanScore,
        thumbs_up_rate = feedback.ThumbsUpRate,
    };

    static async Task<object> RecentAsync(IModelRegistry registry, ModelKind kind, CancellationToken cancellationToken) =>
        (await registry.ListRejectedAsync(kind, cancellationToken))
            .OrderByDescending(r => r.Version)
            .Take(RecentRejections)
            .Select(r => new { version = r.Version, champion_version = r.ChampionVersion, reason = r.Reason, rejected_at = r.RejectedAt })
            .ToList();
}
