using Rlhf.Contracts;
using Rlhf.Storage;

using Rlhf.Learner.Admin;

namespace Rlhf.Cli.Operations;

/// <summary>
/// What <c>rlhf policy status</c> reports, read from the registry and the live-feedback store: the champion (promoted
/// policy), the live canary with both sides' live feedback, the promotion pause, and the newest gate verdicts
/// (rejection records) of policies and reward models.
/// </summary>
/// <param name="Champion">The promoted policy version; null when generation serves its base checkpoint.</param>
/// <param name="Canary">The live canary; null when none is.</param>
/// <param name="Pause">The policy promotion pause; null when promotion may go on.</param>
/// <param name="PolicyRejections">Newest policy rejection records first.</param>
/// <param name="RewardRejections">Newest reward-model rejection records first.</param>
sealed record PolicyReleaseStatus(
    ModelVersionRecord? Champion,
    LiveCanary? Canary,
    PromotionPause? Pause,
    IReadOnlyList<RejectedVersionRecord> PolicyRejections,
    IReadOnlyList<RejectedVersionRecord> RewardRejections)
{
    /// <summary>Reads the status, with at most <paramref name="last"/> rejection records per kind.</summary>
    public static async Task<PolicyReleaseStatus> ReadAsync(IModelRegistry registry, ILiveFeedbackStore feedback, int last,
        CancellationToken cancellationToken)
    {
        var champion = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken);
        var canary = await LiveCanary.ReadAsync(registry, feedback, champion, cancellationToken);
        var pause = await registry.GetPromotionPauseAsync(ModelKind.Policy, cancellationToken);
        var policy = Newest(await registry.ListRejectedAsync(ModelKind.Policy, cancellationToken), last);
        var reward = Newest(await registry.ListRejectedAsync(ModelKind.Reward, cancellationToken), last);
        return new PolicyReleaseStatus(champion, canary, pause, policy, reward);
    }

    static List<RejectedVersionRecord> Newest(IReadOnlyList<RejectedVersionRecord> records, int last) =>
        records.OrderByDescending(r => r.RejectedAt).ThenByDescending(r => r.Version).Take(last).ToList();

    /// <summary>
    /// The <c>--json</c> document: <c>{"keyPrefix", "champion": {version, parentVersion, createdAt, blob, metrics},
    /// "canary": {version, championVersion, parentVersion, createdAt, blob, metrics, live: {canary, champion}},
    /// "promotionPause": {reason, pausedAt}, "rejections": {"policy": [...], "reward": [...]}}</c>; absent parts are null.
    /// </summary>
    public object ToJson(string keyPrefix) => new
    {
        KeyPrefix = keyPrefix,
        Champion = Champion is { } c ? new { c.Version, c.ParentVersion, c.CreatedAt, c.Blob, c.Metrics } : null,
        Canary = Canary is { } canary
            ? new
            {
                canary.Version,
                canary.ChampionVersion,
                canary.Record.ParentVersion,
                canary.Record.CreatedAt,
                canary.Record.Blob,
                canary.Record.Metrics,
                Live = new { Canary = Live(canary.Candidate), Champion = Live(canary.Champion) },
            }
            : null,
        PromotionPause = Pause,
        Rejections = new { Policy = PolicyRejections.Select(Rejection), Reward = RewardRejections.Select(Rejection) },
    };

    static object Live(LiveFeedback f) => new { f.Version, f.Judgements, f.MeanScore, f.ThumbsUpRate, f.ThumbsUp, f.Thumbs, f.MeanStars, f.Stars };

    static object Rejection(RejectedVersionRecord r) => new { r.Version, r.ParentVersion, r.ChampionVersion, r.Reason, r.RejectedAt, r.Metrics };
}
