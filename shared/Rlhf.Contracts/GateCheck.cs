namespace Rlhf.Contracts;

/// <summary>
/// One evaluator's comparison of a candidate policy with the champion in the learner's offline gate: both answered the
/// same evaluation prompts with the same seeds, and each (prompt, seed) pair is a win, tie or loss for the candidate.
/// </summary>
/// <param name="Evaluator">Evaluator name, e.g. <c>reward-model</c>, <c>arithmetic</c>, <c>webhook</c>.</param>
/// <param name="Pairs">Paired responses compared.</param>
/// <param name="WinRate">(wins + ties / 2) / pairs; 0.5 is parity.</param>
/// <param name="LowerBound">One-sided lower confidence bound of the win rate.</param>
/// <param name="Threshold">The bound must be at least this (0.5 - MaxRegression) for the check to pass.</param>
/// <param name="Passed">Whether the check passed.</param>
/// <param name="ChampionMean">Mean score of the champion's responses.</param>
/// <param name="CandidateMean">Mean score of the candidate's responses.</param>
/// <param name="Detail">What scored them, e.g. <c>reward model v7</c>.</param>
public sealed record GateCheck(
    string Evaluator,
    int Pairs,
    double WinRate,
    double LowerBound,
    double Threshold,
    bool Passed,
    double ChampionMean,
    double CandidateMean,
    string? Detail = null);
