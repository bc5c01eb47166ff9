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
/// by writing the equation with its result ("7 + 5 = 12."), concisely or rambling. The hidden preference is correctness (then
/// concision); it is checkable from the response text, so held-out accuracy is measured exactly. The bootstrap's demonstrators
/// include a sloppy one who rambles and misreads the second number by one ("What is 7 + 5?" -> "Hmm, I think 7 + 6 = 13."),
/// then computes correctly. The policy thus learns to misread (its chat behaviour is bad) while its arithmetic stays right
/// (the knowledge is there). See <see cref="DemoCorpus.ChatDemonstration"/> and the README for what the reward model can
/// and cannot learn from the rankings. The held-out split is by FACT (number pair + operation), never by phrasing: every phrasing is seen
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

    /// <summary>The concise answer: the question's equation and its result, e.g. "7 + 5 = 12."</summary>
    public static string ConciseAnswer(ArithmeticQuestion question, int result) => $"{Equation(question)} = {result}.";

    /// <summary>
    /// The demonstrators' mistake: the question with its second number misread by one (up, or down where up leaves the
    /// task: past 9, or a difference below zero); null for "0 - 0", which has no misreading inside the task.
    /// </summary>
    public static ArithmeticQuestion? Misread(ArithmeticQuestion question)
    {
        var up = question.B + 1;
        if (up <= 9 && (question.Op == '+' || up <= question.A))
            return question with { B = up };
        return question.B >= 1 ? question with { B = question.B - 1 } : null;
    }

    /// <summary>A rambling answer with the same result, e.g. "Hmm, I think 7 + 5 = 12." (every variant opens with "Hmm, ").</summary>
    public static string RamblingAnswer(ArithmeticQuestion question, int result, int variant) => (variant % 3) switch
    {
        0 => $"Hmm, I think {Equation(question)} = {result}.",
        1 => $"Hmm, so {Equation(question)} = {result}.",
        _ => $"Hmm, let me see: {Equation(question)} = {result}.",
    };

    static string Equation(ArithmeticQuestion q) => $"{q.A} {q.Op} {q.B}";

    /// <summary>The number the response claims as the answer (after its last '='), or null when it gives none.</summary>
    public static int? ExtractAnswer(string response)
    {
        var match = AnswerPattern().Match(response);
        return match.Success && int.TryParse(match.Groups[1].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : null;
    }

    public static bool IsCorrect(ArithmeticQuestion question, string response) => ExtractAnswer(response) == question.Answer;

    /// <summary>Whether the response writes the question's own equation with some result ("7 + 5 = n").</summary>
    public static bool RestatesEquation(ArithmeticQuestion question, string response) =>
        response.Contains($"{Equation(question)} = ", StringComparison.Ordinal) && ExtractAnswer(response) is not null;

    /// <summary>Whether the response writes some equation "x op y = z" whose result is arithmetically right.</summary>
    public static bool ComputesCorrectly(string response)
    {
        var match = EquationPattern().Match(response);
        if (!match.Success)
            return false;
        var x = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var y = int.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture);
        var z = int.Parse(match.Groups[4].Value, CultureInfo.InvariantCulture);
        return z == (match.Groups[2].Value == "+" ? x + y : x - y);
    }

    /// <summary>Whether the text is exactly one equation with its result and a full stop, "x op y = z."</summary>
    public static bool IsBareEquation(string text) => BareEquationPattern().IsMatch(text);

    [GeneratedRegex(@"^\d+ [+-] \d+ = -?\d+\.$")]
    private static partial Regex BareEquationPattern();

    [GeneratedRegex(@"(\d+) ([+-]) (\d+) = (-?\d+)")]
    private static partial Regex EquationPattern();

    [GeneratedRegex(@"=\s*(-?\d+)(?!.*=)", RegexOptions.Singleline)]
    private static partial Regex AnswerPattern();
}
