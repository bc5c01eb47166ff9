using System.Globalization;

namespace Rlhf.Cli.Up;

/// <summary>
/// <c>--replicas generation=2,scorer=2</c>: processes per service. Every service runs once unless given, scorers not at
/// all (the one reward process then trains and scores); the learner runs exactly once (it is the one writer of policy
/// versions), and so does the reward service, which becomes the trainer when scorer replicas are asked for (two
/// trainers would each train on half the journal).
/// </summary>
public static class ReplicaCounts
{
    public static readonly IReadOnlyList<string> Services = ["Generation", "Feedback", "Reward", "Scorer", "Learner", "Dashboard"];
    static readonly HashSet<string> Single = ["Reward", "Learner"];

    /// <summary>The counts, or the reason the text is refused.</summary>
    public static (IReadOnlyDictionary<string, int>? Counts, string? Error) Parse(string? text)
    {
        var counts = Services.ToDictionary(s => s, s => s == "Scorer" ? 0 : 1);
        foreach (var part in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pieces = part.Split('=', StringSplitOptions.TrimEntries);
            var service = pieces.Length == 2 ? Services.FirstOrDefault(s => s.Equals(pieces[0], StringComparison.OrdinalIgnoreCase)) : null;
            if (service is null)
                return (null, $"--replicas: '{part}' is not service=count (services: {string.Join(", ", Services.Select(s => s.ToLowerInvariant()))})");
            var least = service == "Scorer" ? 0 : 1;
            if (!int.TryParse(pieces[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count < least || count > 16)
                return (null, $"--replicas: the count of {pieces[0]} must be {least}..16, got '{pieces[1]}'");
            if (Single.Contains(service) && count != 1)
                return (null, service == "Learner"
                    ? "--replicas: the learner runs exactly once (it is the one writer of policy versions)"
                    : "--replicas: the reward trainer runs once (two trainers would each see half the feedback); scale scoring with scorer=N");
            counts[service] = count;
        }
        return (counts.Where(c => c.Value > 0).ToDictionary(), null);
    }
}
