using System.ComponentModel.DataAnnotations;

namespace Rlhf.Learner.Release;

/// <summary>
/// Configuration section <c>Learner:Canary</c>: the live stage of a release. When enabled, a candidate that passed the
/// offline gate is not promoted at once: it answers <c>Generation:CanaryShare</c> of the requests next to the champion,
/// and the live ratings of both decide. Off: a gate-passing candidate is promoted directly.
/// </summary>
public sealed class CanaryOptions : IValidatableObject
{
    /// <summary>Put gate-passing candidates on canary before promoting them.</summary>
    public bool Enabled { get; set; }

    /// <summary>Judgements of the canary's responses (and of the champion's, over the same time) needed before a verdict.</summary>
    [Range(1, 1_000_000)]
    public int MinFeedback { get; set; } = 50;

    /// <summary>After this many judgements of the canary without a clear verdict, it is rolled back (fail closed).</summary>
    [Range(1, 10_000_000)]
    public int MaxFeedback { get; set; } = 400;

    /// <summary>How far the canary's mean live score (0..1) may be below the champion's and still count as not worse.</summary>
    [Range(0.0, 1.0)]
    public double MaxRegression { get; set; } = 0.05;

    /// <summary>One-sided z of the confidence bounds on the difference of mean scores (1.645: 95 %).</summary>
    [Range(0.0, 5.0)]
    public double ConfidenceZ { get; set; } = 1.645;

    /// <summary>
    /// How long a canary may run without a verdict; then it is rolled back (fail closed), as after
    /// <see cref="MaxFeedback"/>. Zero: no limit (a canary on a quiet app then waits for feedback however long it takes).
    /// </summary>
    public TimeSpan MaxDuration { get; set; } = TimeSpan.FromHours(6);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MaxDuration < TimeSpan.Zero)
            yield return new ValidationResult($"Canary:MaxDuration ({MaxDuration}) must not be negative.", [nameof(MaxDuration)]);
        if (MaxFeedback < MinFeedback)
            yield return new ValidationResult($"Canary:MaxFeedback ({MaxFeedback}) must be at least Canary:MinFeedback ({MinFeedback}).",
                [nameof(MaxFeedback), nameof(MinFeedback)]);
    }
}
