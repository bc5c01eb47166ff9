using Rlhf.Modeling;
using Rlhf.Training;
using static TorchSharp.torch;

namespace Rlhf.Demo.Studies;

/// <summary>What a policy does on a set of facts.</summary>
/// <param name="Greedy">Chat questions (every phrasing) answered right, greedy (null where only the plain text was measured).</param>
/// <param name="Sampled">Same, one sample at the serving temperature.</param>
/// <param name="Knowledge">Facts completed right as plain text ("a op b = "): what it knows, whatever its chat behaviour.</param>
/// <param name="FactNll">Next-token NLL of the facts' plain-text lines, nats per token.</param>
public sealed record ProbeResult(double? Greedy, double? Sampled, double Knowledge, double FactNll);

/// <summary>
/// Measures a policy on a fixed set of facts with the same evaluation as the offline loop (same questions, same
/// sampling seeds per round), so an SFT run and an RLHF run are measured alike.
/// </summary>
public sealed class PolicyProbe(IReadOnlyList<(int A, int B, char Op)> facts, int maxNewTokens)
{
    readonly DemoCorpus corpus = new(new Rlhf.Modeling.Tokenization.ByteTokenizer());
    readonly IReadOnlyList<ArithmeticQuestion> questions = DemoCorpus.Questions(facts);

    /// <summary>Held-out chat accuracy as the offline loop measures it at <paramref name="round"/>.</summary>
    public PolicyEvaluation Evaluate(CausalLM policy, int round) =>
        PolicyEvaluator.Evaluate(policy, corpus, questions, Bootstrapper.EvaluationTemperature, maxNewTokens, seed: 9_000_000L + round * 1_000L);

    /// <param name="chat">Also ask every chat question (greedy and sampled); the plain-text measures alone are far cheaper.</param>
    public ProbeResult Measure(CausalLM policy, int round, bool chat = true)
    {
        var evaluation = chat ? Evaluate(policy, round) : null;
        return new ProbeResult(evaluation?.GreedyAccuracy, evaluation?.SampledAccuracy, PolicyEvaluator.KnowledgeAccuracy(policy, corpus, facts), FactNll(policy));
    }

    /// <summary>NLL of one bare fact line per fact ("7 - 5 = 2"), the knowledge in plain text.</summary>
    public double FactNll(CausalLM policy)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var documents = facts.Select(f => corpus.FactDocument([f])).Select(d => (d.PromptTokenIds, d.ResponseTokenIds)).ToList();
        var batch = Scoring.Collate(documents, corpus.Tokenizer.PadId, policy.Device);
        var logProbs = Scoring.TokenLogProbs(policy, batch.InputIds, batch.AttentionMask);
        return RlhfMath.NextTokenNll(logProbs, batch.TargetResponseMask()).item<float>();
    }
}
