using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Generation.Rollouts;

/// <summary>
/// Follows one choice token by token while it is decoded: says when it must end (a stop token, a stop string, its
/// max tokens) and which text may be sent so far. Text is held back while it ends in an incomplete UTF-8 character or
/// in the beginning of a stop string, so no client ever sees a stop string or half a character.
/// </summary>
public sealed class ResponseTracker(ITextTokenizer tokenizer, IReadOnlyCollection<int> stopTokenIds, IReadOnlyList<string> stopStrings,
    int maxNewTokens)
{
    const char Replacement = '\uFFFD';

    readonly List<int> tokens = [];
    readonly List<float> logProbs = [];
    readonly List<IReadOnlyList<TokenLogProb>> top = [];
    int sent;

    /// <summary>Set once the choice has ended; no token is accepted after that.</summary>
    public FinishedResponse? Finished { get; private set; }

    /// <summary>Adds the next sampled token; returns the text that can be sent now (often empty, never taken back).</summary>
    public string Accept(int tokenId, float logProb, IReadOnlyList<TokenLogProb> alternatives)
    {
        if (Finished is not null)
            throw new InvalidOperationException("The choice has ended.");
        tokens.Add(tokenId);
        logProbs.Add(logProb);
        if (stopTokenIds.Contains(tokenId))
            return Finish(Decode(tokens.Count - 1), FinishedResponse.Stop, tokens.Count - 1);

        top.Add(alternatives);
        var text = Decode(tokens.Count);
        var cut = stopStrings.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
        if (cut >= 0)
            return Finish(text[..cut], FinishedResponse.Stop, tokens.Count);
        if (tokens.Count >= maxNewTokens)
            return Finish(text, FinishedResponse.Length, tokens.Count);

        var ready = SendableLength(text);
        if (ready <= sent)
            return "";
        var delta = text[sent..ready];
        sent = ready;
        return delta;
    }

    string Decode(int count) => tokenizer.Decode(tokens.Take(count), skipSpecialTokens: true);

    /// <summary>Everything but a trailing incomplete character and a trailing start of a stop string.</summary>
    int SendableLength(string text)
    {
        var end = text.Length;
        while (end > 0 && text[end - 1] == Replacement)
            end--;
        var held = 0;
        foreach (var stop in stopStrings)
        {
            for (var length = Math.Min(stop.Length - 1, end); length > held; length--)
            {
                if (text.AsSpan(end - length, length).SequenceEqual(stop.AsSpan(0, length)))
                {
                    held = length;
                    break;
                }
            }
        }

        return end - held;
    }

    string Finish(string text, string reason, int contentTokens)
    {
        Finished = new FinishedResponse(text, tokens, logProbs, reason) { ContentTokenCount = contentTokens, TopLogProbs = top };
        var delta = text.Length > sent ? text[sent..] : "";
        sent = Math.Max(sent, text.Length);
        return delta;
    }
}
