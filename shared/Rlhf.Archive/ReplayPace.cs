using System.Globalization;

namespace Rlhf.Archive;

/// <summary>How fast a replay republishes: <c>original</c> (the recorded gaps), <c>max</c> (no waits) or <c>&lt;factor&gt;x</c>.</summary>
public readonly record struct ReplayPace(double? Factor, string Text)
{
    public static readonly ReplayPace Original = new(1, "original");
    public static readonly ReplayPace Max = new(null, "max");

    public static bool TryParse(string text, out ReplayPace pace)
    {
        pace = text switch { "original" => Original, "max" => Max, _ => default };
        if (pace.Text is not null)
            return true;
        if (text.Length > 1 && text[^1] is 'x' or 'X'
            && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var factor) && factor > 0 && double.IsFinite(factor))
        {
            pace = new ReplayPace(factor, text);
            return true;
        }

        return false;
    }

    /// <summary>How long after the replay's start an event recorded <paramref name="sinceFirst"/> after the first one is due; null: now.</summary>
    public TimeSpan? DueAfter(TimeSpan sinceFirst) =>
        Factor is { } factor && sinceFirst > TimeSpan.Zero ? TimeSpan.FromTicks((long)(sinceFirst.Ticks / factor)) : null;

    public override string ToString() => Text;
}
