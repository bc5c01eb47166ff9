using System.Globalization;

namespace Rlhf.Learner.Training;

/// <summary>
/// "Trained on" claims: one per rollout or demonstration a checkpoint consumed, valued with what became of it
/// (<c>promote:3</c>, <c>reject:4</c>). A claimed message is a duplicate when the broker redelivers it.
/// </summary>
public static class TrainingClaims
{
    /// <summary>How long a claim lives: well past the rollout store's TTL and any redelivery.</summary>
    public static readonly TimeSpan Ttl = TimeSpan.FromDays(30);

    public static string RolloutKey(Guid rolloutId) => $"learner:trained:{rolloutId}";

    public static string DemonstrationKey(Guid feedbackId) => $"learner:demonstration:{feedbackId}";

    public static string Value(EffectKind kind, long version) =>
        $"{kind.ToString().ToLowerInvariant()}:{version.ToString(CultureInfo.InvariantCulture)}";
}
