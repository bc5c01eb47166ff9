namespace Rlhf.Learner.Gate;

/// <summary>One sampled evaluation response: the prompt as text and tokens (chat template applied), the response likewise.</summary>
public sealed record EvaluatedResponse(string Prompt, IReadOnlyList<int> PromptTokenIds, string Response, IReadOnlyList<int> ResponseTokenIds);

/// <summary>Scores an evaluator gave the champion's and the candidate's responses (same order as given), and what scored them.</summary>
public sealed record EvaluatorScores(IReadOnlyList<double> Champion, IReadOnlyList<double> Candidate, string? Detail = null);

/// <summary>
/// A pluggable judge of the offline gate: scores the champion's and the candidate's responses to the same evaluation
/// prompts (higher is better). An exception rejects the candidate with the evaluator's name and message (fail closed);
/// null means the evaluator cannot judge at all yet (e.g. no reward model promoted) and is left out of this verdict.
/// </summary>
public interface IResponseEvaluator
{
    /// <summary>Name in verdicts and events, e.g. <c>reward-model</c>.</summary>
    string Name { get; }

    Task<EvaluatorScores?> ScoreAsync(IReadOnlyList<EvaluatedResponse> champion, IReadOnlyList<EvaluatedResponse> candidate, CancellationToken cancellationToken);
}
