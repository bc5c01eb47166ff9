using System.Globalization;
using Rlhf.Contracts;

namespace Rlhf.Learner.Training;

/// <summary>Why a scored rollout is not trained on; each has its own counter in the learner's status.</summary>
public enum RolloutRejection
{
    /// <summary>Already trained on (claimed) or repeated within the batch.</summary>
    Duplicate,

    /// <summary>Gone from the rollout store (expired, or never stored).</summary>
    Missing,

    /// <summary>Malformed: non-finite reward or log-prob, empty prompt or response, tokens outside the model.</summary>
    Invalid,

    /// <summary>Sampled at a temperature other than the PPO temperature, so its log-probs would make the ratio wrong.</summary>
    OffTemperature,

    /// <summary>From a policy more than <see cref="AdmissionRules.MaxPolicyLag"/> promoted versions behind the learner, or one it has not reached.</summary>
    Stale,
}

/// <summary>The rules in force for one batch.</summary>
/// <param name="VocabSize">Token ids must be below this.</param>
/// <param name="ContextLength">Prompt plus response must fit the model's context.</param>
/// <param name="Temperature">The PPO sampling temperature the behaviour log-probs must have been taken at.</param>
/// <param name="MaxPolicyLag">Most promoted versions a rollout's policy may be behind the learner's.</param>
/// <param name="PolicyVersion">The learner's current policy version.</param>
/// <param name="RegisteredVersions">Versions in the model registry (the lag counts those after a rollout's version).</param>
public sealed record AdmissionRules(int VocabSize, int ContextLength, double Temperature, int MaxPolicyLag, long PolicyVersion,
    IReadOnlyCollection<long> RegisteredVersions);

/// <summary>A rollout to train on, <paramref name="Lag"/> promoted versions behind the learner.</summary>
public sealed record AdmittedRollout(Guid RolloutId, RolloutGenerated Generated, float Reward, int Lag);

/// <summary>A rollout left out, and why in words (for logs).</summary>
public sealed record RejectedRollout(Guid RolloutId, RolloutRejection Reason, string Detail);

public sealed record AdmissionResult(IReadOnlyList<AdmittedRollout> Admitted, IReadOnlyList<RejectedRollout> Rejected)
{
    public int Count(RolloutRejection reason) => Rejected.Count(r => r.Reason == reason);
}

/// <summary>
/// Which scored rollouts of a batch PPO may train on. Pure: the caller looks up claims and the rollout store first.
/// Rules, in order: not claimed and not repeated; still stored; valid; sampled at the PPO temperature; at most
/// <see cref="AdmissionRules.MaxPolicyLag"/> promoted versions old.
/// </summary>
public static class RolloutAdmission
{
    /// <param name="batch">Scored rollouts as they arrived.</param>
    /// <param name="claimed">Rollout ids already trained on (by an earlier batch or a rejected candidate).</param>
    /// <param name="stored">The generated rollouts the store still holds, by id.</param>
    /// <param name="rules">The rules in force.</param>
    public static AdmissionResult Admit(IReadOnlyList<RolloutScored> batch, IReadOnlySet<Guid> claimed,
        IReadOnlyDictionary<Guid, RolloutGenerated> stored, AdmissionRules rules)
    {
        var seen = new HashSet<Guid>();
        var admitted = new List<AdmittedRollout>();
        var rejected = new List<RejectedRollout>();
        foreach (var scored in batch)
        {
            var id = scored.RolloutId;
            if (!seen.Add(id))
                rejected.Add(new(id, RolloutRejection.Duplicate, "repeated in the batch"));
            else if (claimed.Contains(id))
                rejected.Add(new(id, RolloutRejection.Duplicate, "already trained on"));
            else if (!stored.TryGetValue(id, out var generated))
                rejected.Add(new(id, RolloutRejection.Missing, "gone from the rollout store"));
            else if (Invalidity(generated, scored.Reward, rules) is { } problem)
                rejected.Add(new(id, RolloutRejection.Invalid, problem));
            else if (OffTemperature(generated, rules) is { } temperature)
                rejected.Add(new(id, RolloutRejection.OffTemperature, temperature));
            else if (Lag(generated.PolicyVersion, rules.PolicyVersion, rules.RegisteredVersions) is not { } lag)
                rejected.Add(new(id, RolloutRejection.Stale, Invariant($"from policy {generated.PolicyVersion}, which the learner (at {rules.PolicyVersion}) has not reached")));
            else if (lag > rules.MaxPolicyLag)
                rejected.Add(new(id, RolloutRejection.Stale, Invariant($"{lag} promoted versions behind policy {rules.PolicyVersion}, over the bound of {rules.MaxPolicyLag}")));
            else
                admitted.Add(new(id, generated, scored.Reward, lag));
        }

        return new AdmissionResult(admitted, rejected);
    }

    /// <summary>What makes a rollout unusable for training, or null when it is well formed.</summary>
    public static string? Invalidity(RolloutGenerated generated, float reward, AdmissionRules rules)
    {
        if (!float.IsFinite(reward))
            return Invariant($"reward is {reward}");
        if (generated.PromptTokenIds is not { Count: > 0 })
            return "no prompt tokens";
        if (generated.ResponseTokenIds is not { Count: > 0 })
            return "no response tokens";
        if (generated.BehaviourLogProbs?.Count != generated.ResponseTokenIds.Count)
            return Invariant($"{generated.BehaviourLogProbs?.Count ?? 0} behaviour log-probs for {generated.ResponseTokenIds.Count} response tokens");
        if (generated.PromptTokenIds.Count + generated.ResponseTokenIds.Count > rules.ContextLength)
            return Invariant($"{generated.PromptTokenIds.Count + generated.ResponseTokenIds.Count} tokens exceed the context of {rules.ContextLength}");
        if (generated.PromptTokenIds.Concat(generated.ResponseTokenIds).Select(id => (int?)id).FirstOrDefault(id => id < 0 || id >= rules.VocabSize) is { } token)
            return Invariant($"token id {token} outside the vocabulary of {rules.VocabSize}");
        if (!generated.BehaviourLogProbs.All(float.IsFinite))
            return "a behaviour log-prob is not finite";
        if (generated.Sampling is null)
            return "no sampling parameters";
        return null;
    }

    /// <summary>Promoted versions after <paramref name="version"/> up to <paramref name="current"/>; null for a version the learner has not reached.</summary>
    public static int? Lag(long version, long current, IReadOnlyCollection<long> registeredVersions)
    {
        if (version > current)
            return null;
        return version == current ? 0 : registeredVersions.Count(v => v > version && v <= current);
    }

    static string? OffTemperature(RolloutGenerated generated, AdmissionRules rules)
    {
        // Greedy responses carry log-probs at T = 1 (see Sampler); other temperatures would make the PPO ratio wrong.
        var temperature = generated.Sampling.Temperature == 0 ? 1.0 : generated.Sampling.Temperature;
        return Math.Abs(temperature - rules.Temperature) > 1e-6
            ? Invariant($"sampled at temperature {temperature}, not {rules.Temperature}")
            : null;
    }

    static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
