using System.Globalization;
using System.Text.RegularExpressions;

namespace Rlhf.Demo;

/// <summary>One checkable question: a op b, its phrasing, and the true answer.</summary>
public sealed record ArithmeticQuestion(int A, int B, char Op, int Phrasing)
{
    public int Answer => Op == '+' ? A + B : A - B;

    /// <summary>The fact (number pair and operation) independent of phrasing: what the held-out split is made of.</summary>
    public string Fact => $"{A}{Op}{B}";

    public string Text => ArithmeticTask.Phrasings[Phrasing](A, B, Op);
}

/// <summary>
/// The demo's task: single-digit addition and subtraction (a - b with a >= b) asked in a few phrasings and answered
/// with the number ("12."), concisely or rambling. The hidden preference is correctness (then concision); it is
/// checkable from the response text, so held-out accuracy is measured exactly. The held-out split is by FACT (number pair + operation), never by phrasing: every phrasing is seen
/// in training, because at this model size unseen phrasings do not generalise (see ../shared/docs/DEMO-CALIBRATION.md),
/// and the question the demo answers is whether RLHF moves the policy towards the correct answers it already knows.
/// </summary>
public static partial class ArithmeticTask
{
    internal static readonly Func<int, int, char, string>[] Phrasings =
    [
        (a, b, op) => $"What is {a} {op} {b}?",
        (a, b, op) => $"Compute {a} {op} {b}.",
        (a, b, op) => $"How much is {a} {op} {b}?",
        (a, b, op) => $"Please work out {a} {op} {b}.",
    ];

    public static int PhrasingCount => Phrasings.Length;

    /// <summary>Every fact of the task: 100 additions and 55 subtractions.</summary>
    public static IReadOnlyList<(int A, int B, char Op)> AllFacts()
    {
        var facts = new List<(int, int, char)>();
        for (var a = 0; a <= 9; a++)
        for (var b = 0; b <= 9; b++)
        {
            facts.Add((a, b, '+'));
            if (a >= b)
                facts.Add((a, b, '-'));
        }

        return facts;
    }

    /// <summary>Splits facts into RLHF-prompt facts and held-out facts, deterministically by seed.</summary>
    public static (IReadOnlyList<(int A, int B, char Op)> Train, IReadOnlyList<(int A, int B, char Op)> HeldOut) Split(double heldOutShare, int seed)
    {
        if (heldOutShare is <= 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(heldOutShare), $"held-out share must be in (0, 1), got {heldOutShare}");
        var facts = AllFacts().OrderBy(_ => 0).ToList();
        var random = new Random(seed);
        for (var i = facts.Count - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (facts[i], facts[j]) = (facts[j], facts[i]);
        }

        var heldOut = (int)Math.Round(facts.Count * heldOutShare);
        return (facts.Skip(heldOut).ToList(), facts.Take(heldOut).ToList());
    }

    /// <summary>The concise answer: the number and a full stop, e.g. "12."</summary>
    public static string ConciseAnswer(int result) => $"{result}.";

    /// <summary>A rambling answer with the same result, e.g. "Hmm, I think it is 12."</summary>
    public static string RamblingAnswer(int result, int variant) => (variant % 3) switch
    {
        0 => $"Hmm, I think it is {result}.",
        1 => $"Sure! That makes {result}.",
        _ => $"Easy: the answer is {result}!",
    };

    /// <summary>The number the response claims as the answer (its last integer), or null when it gives none.</summary>
    public static int? ExtractAnswer(string response)
    {
        var matches = NumberPattern().Matches(response);
        return matches.Count > 0 && int.TryParse(matches[^1].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : null;
    }

    public static bool IsCorrect(ArithmeticQuestion question, string response) => ExtractAnswer(response) == question.Answer;

    [GeneratedRegex(@"-?\d+")]
    private static partial Regex NumberPattern();
}
