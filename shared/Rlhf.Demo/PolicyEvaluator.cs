using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using static TorchSharp.torch;

namespace Rlhf.Demo;

/// <summary>How a policy answers a set of questions, judged by the hidden preference (exact, from the text).</summary>
/// <param name="GreedyAccuracy">Share of questions whose greedy reply gives the right number.</param>
/// <param name="SampledAccuracy">Share of questions whose reply sampled at the serving temperature is right.</param>
/// <param name="GreedyConciseShare">Share of greedy replies that are nothing but the equation.</param>
/// <param name="GreedyWellFormedShare">Share of greedy replies that restate the question's equation with a result (no misreading).</param>
/// <param name="GreedyComputedShare">Share of greedy replies whose written equation is arithmetically right (whatever was read).</param>
/// <param name="Questions">How many questions were asked.</param>
public sealed record PolicyEvaluation(double GreedyAccuracy, double SampledAccuracy, double GreedyConciseShare, double GreedyWellFormedShare, double GreedyComputedShare, int Questions);

/// <summary>Measures a policy on questions with batched generation (greedy and sampled).</summary>
public static class PolicyEvaluator
{
    const int ChunkSize = 256;

    public static PolicyEvaluation Evaluate(
        CausalLM policy, DemoCorpus corpus, IReadOnlyList<ArithmeticQuestion> questions, double temperature, int maxNewTokens, long seed)
    {
        var greedy = Answer(policy, corpus, questions, _ => SamplingOptions.Greedy(maxNewTokens));
        var sampled = Answer(policy, corpus, questions, i => new SamplingOptions(maxNewTokens, temperature, Seed: seed + i));
        return new PolicyEvaluation(
            Share(questions, greedy, ArithmeticTask.IsCorrect),
            Share(questions, sampled, ArithmeticTask.IsCorrect),
            Share(questions, greedy, SimulatedLabelers.IsConcise),
            Share(questions, greedy, ArithmeticTask.RestatesEquation),
            Share(questions, greedy, (_, reply) => ArithmeticTask.ComputesCorrectly(reply)),
            questions.Count);
    }

    /// <summary>Replies (text) of the policy to each question, generated in batches.</summary>
    public static IReadOnlyList<string> Answer(
        CausalLM policy, DemoCorpus corpus, IReadOnlyList<ArithmeticQuestion> questions, Func<int, SamplingOptions> sampling)
    {
        var requests = questions.Select((q, i) => new GenerationRequest(corpus.ChatPrompt(q), sampling(i))).ToList();
        return Generate(policy, corpus, requests).Select(g => corpus.DecodeResponse(g.TokenIds)).ToList();
    }

    /// <summary>Batched generation that stops on the end-of-turn token.</summary>
    public static IReadOnlyList<GeneratedSequence> Generate(CausalLM policy, DemoCorpus corpus, IReadOnlyList<GenerationRequest> requests) =>
        requests.Chunk(ChunkSize)
            .SelectMany(chunk => Sampler.Generate(policy, chunk, [corpus.EndOfTurnId], corpus.Tokenizer.PadId))
            .ToList();

    /// <summary>
    /// Share of facts the model completes correctly as plain text ("a op b = " followed greedily): what it knows,
    /// whatever its chat behaviour.
    /// </summary>
    public static double KnowledgeAccuracy(CausalLM policy, DemoCorpus corpus, IReadOnlyList<(int A, int B, char Op)> facts)
    {
        var questions = facts.Select(f => new ArithmeticQuestion(f.A, f.B, f.Op, 0)).ToList();
        var requests = questions.Select(q => new GenerationRequest(corpus.KnowledgeProbe(q), SamplingOptions.Greedy(3))).ToList();
        var replies = Generate(policy, corpus, requests);
        return (double)questions.Zip(replies).Count(p => ArithmeticTask.IsCorrect(p.First, "= " + corpus.DecodeResponse(p.Second.TokenIds))) / questions.Count;
    }

    static double Share(IReadOnlyList<ArithmeticQuestion> questions, IReadOnlyList<string> replies, Func<ArithmeticQuestion, string, bool> test) =>
        questions.Count == 0 ? double.NaN : (double)questions.Zip(replies).Count(p => test(p.First, p.Second)) / questions.Count;
}
