namespace Rlhf.Training;

/// <summary>
/// KL coefficient beta of the reward penalty. Adaptive (Ziegler et al. 2019) when a target is set: after each batch
/// of n sequences with observed KL, e = clip(KL / target - 1, -0.2, 0.2) and beta &lt;- beta (1 + e n / horizon), so
/// beta grows while the policy drifts past the target and shrinks below it. Fixed when the target is null.
/// </summary>
/// <param name="initialBeta">Starting beta (per nat).</param>
/// <param name="target">Target KL in nats per sequence (summed over its response tokens); null keeps beta fixed.</param>
/// <param name="horizon">Sequences over which a full-size correction is spread.</param>
public sealed class AdaptiveKlController(double initialBeta, double? target = null, double horizon = 10_000)
{
    /// <summary>Largest relative error one update acts on.</summary>
    public const double MaxError = 0.2;

    public double Beta { get; private set; } = initialBeta >= 0 && double.IsFinite(initialBeta)
        ? initialBeta
        : throw new ArgumentOutOfRangeException(nameof(initialBeta), $"beta must be finite and >= 0 (got {initialBeta})");

    public double? Target { get; } = target is null or > 0 ? target : throw new ArgumentOutOfRangeException(nameof(target), $"target KL must be > 0 (got {target})");

    public double Horizon { get; } = horizon > 0 ? horizon : throw new ArgumentOutOfRangeException(nameof(horizon), $"horizon must be > 0 (got {horizon})");

    /// <summary>Feeds the KL observed on <paramref name="samples"/> sequences; returns the new beta.</summary>
    public double Update(double observedKl, int samples)
    {
        if (!double.IsFinite(observedKl))
            throw new ArgumentOutOfRangeException(nameof(observedKl), $"observed KL must be finite (got {observedKl})");
        if (Target is not { } goal)
            return Beta;
        var error = Math.Clamp(observedKl / goal - 1, -MaxError, MaxError);
        Beta *= 1 + error * samples / Horizon;
        return Beta;
    }
}
