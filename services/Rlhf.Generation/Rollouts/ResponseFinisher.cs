using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Generation.Rollouts;

/// <summary>A sampled sequence as it is served and recorded.</summary>
/// <param name="Text">Text returned to the client: special tokens removed, cut before a stop string.</param>
/// <param name="TokenIds">Response tokens of the rollout: up to and including the stop token, or the tokens that
/// completed the stop string (generation would have ended there).</param>
/// <param name="LogProbs">Behaviour log-probabilities, one per entry of <paramref name="TokenIds"/>.</param>
/// <param name="FinishReason">OpenAI finish reason, <c>stop</c> or <c>length</c>.</param>
public sealed record FinishedResponse(string Text, IReadOnlyList<int> TokenIds, IReadOnlyList<float> LogProbs, string FinishReason);

/// <summary>Turns sampler output into the served text, applying the request's stop strings.</summary>
public static class ResponseFinisher
{
    public const string Stop = "stop";
    public const string Length = "length";

    /// <summary>
    /// Decodes <paramref name="sequence"/> without its final stop token. With stop strings, the response ends at the
    /// first token after which the decoded text holds one of them (as if generation had stopped there); the text
    /// is cut before that stop string and the finish reason is <c>stop</c>.
    /// </summary>
    public static FinishedResponse Finish(GeneratedSequence sequence, ITextTokenizer tokenizer, IReadOnlyCollection<int> stopTokenIds,
        IReadOnlyList<string> stopStrings)
    {
        var tokens = sequence.TokenIds;
        var endsWithStopToken = sequence.Finish == FinishReason.Stop && tokens.Count > 0 && stopTokenIds.Contains(tokens[^1]);
        var contentCount = endsWithStopToken ? tokens.Count - 1 : tokens.Count;

        if (stopStrings.Count > 0)
        {
            for (var count = 1; count <= contentCount; count++)
            {
                var prefix = tokenizer.Decode(tokens.Take(count), skipSpecialTokens: true);
                var cut = stopStrings.Select(s => prefix.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
                if (cut >= 0)
                    return new FinishedResponse(prefix[..cut], tokens.Take(count).ToList(), sequence.LogProbs.Take(count).ToList(), Stop);
            }
        }

        var text = tokenizer.Decode(tokens.Take(contentCount), skipSpecialTokens: true);
        return new FinishedResponse(text, tokens, sequence.LogProbs, sequence.Finish == FinishReason.Stop ? Stop : Length);
    }
}
