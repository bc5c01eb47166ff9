using System.Text.RegularExpressions;

namespace Rlhf.Modeling.Tokenization;

/// <summary>
/// Cuts text into ordinary runs and special-token occurrences before any BPE or byte encoding sees it, so a special
/// string can never be split across tokens. Where two specials overlap the longer wins, as in Hugging Face tokenizers.
/// </summary>
internal sealed class SpecialTokenMatcher
{
    private readonly IReadOnlyDictionary<string, int> tokens;
    private readonly Regex? pattern;

    public SpecialTokenMatcher(IReadOnlyDictionary<string, int> tokens)
    {
        this.tokens = tokens;
        if (tokens.Count > 0)
        {
            // .NET alternation takes the first alternative that matches, so longest-first gives longest match.
            var alternatives = tokens.Keys.OrderByDescending(t => t.Length).ThenBy(t => t, StringComparer.Ordinal).Select(Regex.Escape);
            pattern = new Regex(string.Join('|', alternatives), RegexOptions.CultureInvariant);
        }
    }

    /// <summary>
    /// As <see cref="Split(string)"/> over <paramref name="pieces"/>, where special strings count only in trusted pieces;
    /// ordinary text runs on across piece boundaries, so it is cut exactly as if the pieces were one string.
    /// </summary>
    public IEnumerable<(string Text, int? SpecialId)> Split(IEnumerable<TextPiece> pieces)
    {
        var run = new System.Text.StringBuilder();
        foreach (var piece in pieces)
        {
            if (!piece.Trusted)
            {
                run.Append(piece.Text);
                continue;
            }

            foreach (var (text, specialId) in Split(piece.Text))
            {
                if (specialId is null)
                {
                    run.Append(text);
                    continue;
                }

                if (run.Length > 0)
                    yield return (run.ToString(), null);
                run.Clear();
                yield return (text, specialId);
            }
        }

        if (run.Length > 0)
            yield return (run.ToString(), null);
    }

    /// <summary>Yields, in order, ordinary runs (SpecialId null, never empty) and special tokens (SpecialId set).</summary>
    public IEnumerable<(string Text, int? SpecialId)> Split(string text)
    {
        var start = 0;
        if (pattern is not null)
        {
            foreach (Match match in pattern.Matches(text))
            {
                if (match.Index > start)
                    yield return (text[start..match.Index], null);
                yield return (match.Value, tokens[match.Value]);
                start = match.Index + match.Length;
            }
        }
        if (start < text.Length)
            yield return (text[start..], null);
    }
}
