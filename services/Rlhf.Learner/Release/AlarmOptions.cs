using System.ComponentModel.DataAnnotations;

namespace Rlhf.Learner.Release;

/// <summary>
/// Configuration section <c>Learner:Alarm</c>: the reward-hacking alarm. Over the last <see cref="Window"/> candidates the
/// gate compared, when the mean reward-model score of the served rollouts each was trained on rose by at least
/// <see cref="MinRewardRise"/> (newest minus oldest) while no independent evaluator's score of the candidates on the
/// gate's prompts (arithmetic checker, webhook) rose by more than <see cref="MaxEvaluatorChange"/>, promotion pauses
/// until an operator resumes it (<c>rlhf policy resume</c>).
/// </summary>
public sealed class AlarmOptions
{
    /// <summary>Watch the gate's comparisons (needs the reward-model check and at least one independent evaluator).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Candidates the rise is measured over (newest against oldest).</summary>
    [Range(2, 1000)]
    public int Window { get; set; } = 4;

    /// <summary>Rise of the served rollouts' mean reward-model score that counts as rising.</summary>
    [Range(0.0, double.MaxValue)]
    public double MinRewardRise { get; set; } = 0.1;

    /// <summary>The most an independent evaluator's mean score may rise over the window and still count as flat.</summary>
    [Range(0.0, double.MaxValue)]
    public double MaxEvaluatorChange { get; set; }
}
