using Rlhf.Storage;

namespace Rlhf.Dashboard.Apis;

/// <summary>
/// <c>GET /v1/dashboard/versions</c>: every policy and reward-model version the registry holds, with its state
/// (champion, canary, rejected, retired) and its metrics, oldest first: the charts and the version table.
/// </summary>
public static class VersionsView
{
    public static async Task<object> ReadAsync(IModelRegistry registry, CancellationToken cancellationToken)
    {
        var champion = (await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken))?.Version;
        var canary = (await registry.GetCanaryAsync(ModelKind.Policy, cancellationToken))?.Version;
        var rewardChampion = (await registry.GetPromotedAsync(ModelKind.Reward, cancellationToken))?.Version;
        var policies = (await registry.ListAsync(ModelKind.Policy, cancellationToken))
            .Select(v => new VersionRow(v.Version, v.ParentVersion, v.Version == champion ? "champion" : v.Version == canary ? "canary" : "retired",
                v.Metrics, v.CreatedAt, null))
            .Concat((await registry.ListRejectedAsync(ModelKind.Policy, cancellationToken))
                .Select(r => new VersionRow(r.Version, r.ParentVersion, "rejected", r.Metrics, r.RejectedAt, r.Reason)))
            .OrderBy(v => v.Version);
        var rewardModels = (await registry.ListAsync(ModelKind.Reward, cancellationToken))
            .Select(v => new VersionRow(v.Version, v.ParentVersion, v.Version == rewardChampion ? "champion" : "retired", v.Metrics, v.CreatedAt, null))
            .Concat((await registry.ListRejectedAsync(ModelKind.Reward, cancellationToken))
                .Select(r => new VersionRow(r.Version, r.ParentVersion, "rejected", r.Metrics, r.RejectedAt, r.Reason)))
            .OrderBy(v => v.Version);
        return new { policies = policies.ToList(), reward_models = rewardModels.ToList() };
    }

    /// <summary>A version as the page shows it; metrics that are not finite (NaN has no JSON form) are left out.</summary>
    public sealed record VersionRow(long Version, long? ParentVersion, string State, IReadOnlyDictionary<string, double> Metrics,
        DateTimeOffset At, string? Reason)
    {
        public IReadOnlyDictionary<string, double> Metrics { get; } = Metrics.Where(m => double.IsFinite(m.Value)).ToDictionary();
    }
}
