using Rlhf.Contracts;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests.Support;

/// <summary>Real rollouts of a checkpoint (sampled with <see cref="Sampler"/>, so the behaviour log-probs are right), as generation records them.</summary>
public static class SampledRollouts
{
    public const int MaxNewTokens = 12;

    /// <summary><paramref name="groups"/> prompts with <paramref name="n"/> candidates each.</summary>
    public static IReadOnlyList<RolloutGenerated> Generate(string modelDirectory, int groups, int n = 2, long policyVersion = 0,
        double temperature = 1.0, int seed = 0)
    {
        using var model = ModelCheckpoint.LoadPolicy(modelDirectory);
        var tokenizer = TinyPolicy.Tokenizer;
        var all = new List<RolloutGenerated>();
        for (var g = 0; g < groups; g++)
        {
            var promptText = ChatTemplate.ChatMl.Render([new ChatTurn("user", $"What is {seed + g} plus {g + 1}?")], addGenerationPrompt: true);
            var prompt = tokenizer.Encode(promptText);
            var requests = Enumerable.Range(0, n)
                .Select(i => new GenerationRequest(prompt, new SamplingOptions(MaxNewTokens, temperature, Seed: seed * 1_000 + g * 10 + i)))
                .ToList();
            var sequences = Sampler.Generate(model, requests, [tokenizer.EosId], tokenizer.PadId);
            var groupId = $"chatcmpl-{Guid.NewGuid():N}";
            all.AddRange(sequences.Select((s, i) => new RolloutGenerated(Guid.NewGuid(), groupId, i, n, policyVersion, promptText, prompt,
                tokenizer.Decode(s.TokenIds, skipSpecialTokens: true), s.TokenIds, s.LogProbs,
                s.Finish == FinishReason.Stop ? "stop" : "length",
                new SamplingParameters(temperature, 1.0, 0, MaxNewTokens, seed, []), "learner-tests", null, DateTimeOffset.UtcNow)));
        }

        return all;
    }

    public static RolloutScored Scored(RolloutGenerated rollout, float reward) =>
        new(rollout.RolloutId, rollout.GroupId, rollout.PolicyVersion, 1, reward, DateTimeOffset.UtcNow);
}
