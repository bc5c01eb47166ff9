using System.ComponentModel.DataAnnotations;

namespace Rlhf.Learner.Release;

/// <summary>
/// Configuration section <c>Learner:Alarm</c>: the reward-hacking alarm. It watches the gate's comparisons (each scores
/// candidate and champion with one frozen reward model and with the independent evaluators: arithmetic checker,
/// webhook): when, summed over the last <see cref="Window"/> comparisons, the reward model's score rose by at least
/// <see cref="MinRewardRise"/> while no independent evaluator's score rose by more than <see cref="MaxEvaluatorChange"/>,
/// promotion pauses until an operator resumes it (<c>rlhf policy resume</c>).
/// </summary>
public sealed class AlarmOptions
{
    /// <summary>Watch the gate's comparisons (needs the reward-model check and at least one independent evaluator).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Comparisons the rise is summed over.</summary>
    [Range(1, 1000)]
    public int Window { get; set; } = 3;

    /// <summary>Rise of the reward model's mean score (candidate minus champion, summed over the window) that counts as rising.</summary>
    [Range(0.0, double.MaxValue)]
    public double MinRewardRise { get; set; } = 0.5;

    /// <summary>The most an independent evaluator's mean score may rise over the window and still count as flat.</summary>
    [Range(0.0, double.MaxValue)]
    public double MaxEvaluatorChange { get; set; }
}
