namespace Rlhf.Demo.Studies;

/// <summary>
/// How big a study runs: the bootstrap it starts from, the rounds of feedback and their size. <see cref="Default"/> is
/// what the README's tables come from; <see cref="Small"/> is a quicker look; <see cref="Ci"/> only checks the machinery
/// (a model too small and too short to learn anything).
/// </summary>
/// <param name="Rounds">Rounds of feedback per run (each round asks <paramref name="PromptsPerRound"/> questions, one judgement each).</param>
/// <param name="CandidatesPerPrompt">Answers sampled per question for the labelers to compare.</param>
/// <param name="MaxNewTokens">Reply budget of sampling and evaluation.</param>
/// <param name="ModelSizes">The three models of the scale study (hidden size, intermediate size, layers, heads), smallest first.</param>
public sealed record StudySize(
    string Name, BootstrapOptions Bootstrap, int Rounds, int PromptsPerRound, int CandidatesPerPrompt, int MaxNewTokens,
    IReadOnlyList<(int Hidden, int Intermediate, int Layers, int Heads)> ModelSizes)
{
    public static StudySize Default { get; } = new("default", new BootstrapOptions(), Rounds: 5, PromptsPerRound: 32, CandidatesPerPrompt: 4,
        MaxNewTokens: Bootstrapper.MaxReplyTokens, ModelSizes: [(96, 256, 2, 4), (192, 512, 2, 4), (256, 688, 4, 4)]);

    public static StudySize Small { get; } = Default with { Name = "small", Rounds = 3, PromptsPerRound = 24 };

    public static StudySize Ci { get; } = new("ci",
        new BootstrapOptions { HiddenSize = 32, IntermediateSize = 64, Layers = 1, Heads = 2, Steps = 20, BatchSize = 8 },
        Rounds: 2, PromptsPerRound: 4, CandidatesPerPrompt: 2, MaxNewTokens: 12,
        ModelSizes: [(16, 32, 1, 2), (32, 64, 1, 2), (48, 96, 1, 2)]);

    public static IReadOnlyList<StudySize> All { get; } = [Default, Small, Ci];

    public static StudySize Parse(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown study size '{name}'. Known: {string.Join(", ", All.Select(s => s.Name))}.");

    /// <summary>Judgements (answered feedback requests) after <paramref name="round"/> rounds.</summary>
    public int Judgements(int round) => round * PromptsPerRound;

    /// <summary>Loop settings of a run: fixed rounds (no early stop, so runs compare at equal budgets), this size's batch.</summary>
    public LoopOptions Loop(int seed) => new()
    {
        Seed = seed,
        PromptsPerRound = PromptsPerRound,
        CandidatesPerPrompt = CandidatesPerPrompt,
        MaxNewTokens = MaxNewTokens,
        StopAtTarget = false,
        MaxRounds = Rounds,
        TimeBudgetSeconds = 86_400,
    };
}
