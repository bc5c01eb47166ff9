using Rlhf.Demo;

namespace Rlhf.Learner.Gate;

/// <summary>
/// The demo's verifiable checker: a response scores 1 when the number after its last '=' is the question's answer,
/// else 0. Every evaluation prompt must be a demo question in one of its phrasings; any other prompt fails the gate.
/// </summary>
public sealed class ArithmeticEvaluator : IResponseEvaluator
{
    static readonly Dictionary<string, ArithmeticQuestion> Questions = ArithmeticTask.AllFacts()
        .SelectMany(f => Enumerable.Range(0, ArithmeticTask.PhrasingCount).Select(p => new ArithmeticQuestion(f.A, f.B, f.Op, p)))
        .ToDictionary(q => q.Text, StringComparer.Ordinal);

    public string Name => "arithmetic";

    public Task<EvaluatorScores?> ScoreAsync(IReadOnlyList<EvaluatedResponse> champion, IReadOnlyList<EvaluatedResponse> candidate,
        CancellationToken cancellationToken) =>
        Task.FromResult<EvaluatorScores?>(new EvaluatorScores(Score(champion), Score(candidate), "answer checked against the question"));

    static List<double> Score(IReadOnlyList<EvaluatedResponse> responses) => responses.Select(r =>
            Questions.TryGetValue(r.Prompt, out var question)
                ? ArithmeticTask.IsCorrect(question, r.Response) ? 1.0 : 0.0
                : throw new InvalidOperationException($"prompt '{r.Prompt}' is not a demo arithmetic question"))
        .ToList();
}
