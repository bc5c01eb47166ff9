using Rlhf.Learner.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Learner.Gate;

/// <summary>
/// The learner's gate for every candidate, in order: every weight of the actor is finite (checked on the parameters
/// themselves, before anything is sampled, written or published); then <paramref name="metrics"/> (finite training
/// signals, KL bound: <see cref="EvaluationGate"/>); then, when evaluation prompts are configured, the comparison with
/// the champion. The first failing stage decides; later stages do not run.
/// </summary>
public sealed class ReleaseGate(nn.Module actor, IPolicyGate metrics, ChampionComparison? comparison) : IPolicyGate
{
    public async Task<GateVerdict> JudgeAsync(GateCandidate candidate, CancellationToken cancellationToken)
    {
        var nonFinite = NonFiniteParameters(actor);
        if (nonFinite.Count > 0)
            return new GateVerdict([$"weights not finite in {nonFinite.Count} tensors ({string.Join(", ", nonFinite.Take(3))})"]) { WeightsFinite = false };

        var verdict = await metrics.JudgeAsync(candidate, cancellationToken);
        if (!verdict.Passed || comparison is null)
            return verdict;
        var result = await comparison.CompareAsync(cancellationToken);
        return result is null ? verdict : new GateVerdict(result.Failures) { ChampionVersion = result.ChampionVersion, Checks = result.Checks };
    }

    /// <summary>Names of the parameters holding a NaN or an infinity.</summary>
    public static IReadOnlyList<string> NonFiniteParameters(nn.Module module)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return module.named_parameters().Where(p => !isfinite(p.parameter).all().item<bool>()).Select(p => p.name).ToList();
    }
}
