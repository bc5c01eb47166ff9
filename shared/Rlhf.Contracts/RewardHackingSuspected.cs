namespace Rlhf.Contracts;

/// <summary>
/// The reward-hacking alarm: over the learner's recent gate comparisons the reward model's mean score rose (candidate
/// versus champion, one frozen reward model for both) while the independent evaluators' scores stayed flat or fell. Promotion pauses until an operator resumes it
/// (<c>rlhf policy resume</c>).
/// </summary>
/// <param name="PolicyVersion">The champion (promoted version) when the alarm fired.</param>
/// <param name="Reason">Human-readable reason with the numbers.</param>
/// <param name="RewardRise">Rise of the mean reward-model score of served responses over the window.</param>
/// <param name="EvaluatorChange">Change of each independent evaluator's mean score over the same window.</param>
/// <param name="RaisedAt">When the alarm was raised (UTC).</param>
public sealed record RewardHackingSuspected(
    long PolicyVersion,
    string Reason,
    double RewardRise,
    IReadOnlyDictionary<string, double> EvaluatorChange,
    DateTimeOffset RaisedAt);
