using Rlhf.Modeling;

namespace Rlhf.Demo.Studies;

/// <summary>Runs one arm for one seed, logged: the offline RLHF loop or the SFT alternative.</summary>
public static class StudyRuns
{
    /// <param name="ptxFacts">PTX corpus facts (default: the split's).</param>
    /// <param name="eachRound">Called with the round and the policy after every round's evaluation (round 0 is the start).</param>
    /// <param name="after">Called with the loop once it has run (e.g. to save the update).</param>
    public static SeedRun Rlhf(StudyContext context, BootstrapResult bootstrap, LoopOptions options, string label, CancellationToken cancellationToken,
        IReadOnlyList<(int A, int B, char Op)>? ptxFacts = null, Action<int, CausalLM>? eachRound = null, Action<OfflineLoop>? after = null)
    {
        using var loop = new OfflineLoop(bootstrap, options, ptxFacts);
        var result = loop.Run(r =>
        {
            context.Log($"  {label} round {r.Round}: rankings {r.Rankings}, held-out greedy {r.HeldOutGreedy:P1}, sampled {r.HeldOutSampled:P1}, KL {r.Kl:F2}, {r.ElapsedSeconds:F0} s");
            eachRound?.Invoke(r.Round, loop.Policy);
        }, cancellationToken);
        after?.Invoke(loop);
        return new SeedRun(options.Seed, Curves.FromLoop(result, context.Size), result.Seconds);
    }

    public static SeedRun Sft(StudyContext context, BootstrapResult bootstrap, LoopOptions options, SftTarget target, string label,
        CancellationToken cancellationToken, Action<int, CausalLM>? eachRound = null)
    {
        using var sft = new FeedbackSft(bootstrap, options, target);
        var curve = sft.Run(p =>
        {
            context.Log($"  {label} round {p.Round}: judgements {p.Judgements}, held-out greedy {p.HeldOutGreedy:P1}, sampled {p.HeldOutSampled:P1}, {p.Seconds:F0} s");
            eachRound?.Invoke(p.Round, sft.Policy);
        }, cancellationToken);
        return new SeedRun(options.Seed, curve, curve[^1].Seconds);
    }

    /// <summary>The sentence every report starts its setup with.</summary>
    public static string Setup(StudyContext context, BootstrapResult bootstrap, int? rounds = null)
    {
        var s = context.Size;
        return $"Size `{s.Name}`: bootstrap {bootstrap.Options.Hash()} ({bootstrap.Report.Parameters / 1e6:F2}M parameters, {bootstrap.Options.Steps} steps, " +
               $"bootstrap seed {bootstrap.Options.Seed}, held-out greedy {bootstrap.Report.HeldOut.GreedyAccuracy:P1}); {rounds ?? s.Rounds} rounds of {s.PromptsPerRound} " +
               $"questions x {s.CandidatesPerPrompt} candidates (one judgement per question), labelers with 10 % noise; seeds {string.Join(", ", context.Seeds)} " +
               "(sampling, labelers, shuffles and the trainers' initialisation; the bootstrap is the same for every seed); " +
               $"{TorchRuntime.Describe()}.";
    }
}
