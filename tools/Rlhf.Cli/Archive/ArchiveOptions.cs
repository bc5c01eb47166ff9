using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Rlhf.Archive;

namespace Rlhf.Cli.Archive;

/// <summary>The options replay and export share, and how they run: errors as one line on stderr and exit code 1.</summary>
sealed class ArchiveOptions
{
    public Option<string> Events { get; } = new("--events")
    {
        Description = "The run's event log (events.jsonl in the folder `rlhf demo` writes)",
        Required = true,
    };

    public Option<string?> Out { get; } = new("--out") { Description = "Write JSONL to this file instead of stdout" };
    public Option<DateTimeOffset?> Since { get; } = TimeOption("--since", "Keep events sent at or after this ISO 8601 time (UTC unless it names an offset)");
    public Option<DateTimeOffset?> Until { get; } = TimeOption("--until", "Keep events sent before this ISO 8601 time (UTC unless it names an offset)");
    public Option<string?> CorrelationId { get; } = new("--correlation-id") { Description = "Keep events whose correlationId header is this (one API request)" };
    public Option<string?> GroupId { get; } = new("--group-id") { Description = "Keep events of this group (chat completion id), and events naming one of its rollouts" };
    public Option<Guid?> RolloutId { get; } = new("--rollout-id") { Description = "Keep events naming this rollout (its generation, score, ratings and rankings)" };
    public Option<long?> PolicyVersion { get; } = new("--policy-version") { Description = "Keep events whose message carries this policyVersion" };

    public EventFilter Filter(ParseResult parse) => new()
    {
        Since = parse.GetValue(Since),
        Until = parse.GetValue(Until),
        CorrelationId = parse.GetValue(CorrelationId),
        GroupId = parse.GetValue(GroupId),
        RolloutId = parse.GetValue(RolloutId),
        PolicyVersion = parse.GetValue(PolicyVersion),
    };

    static Option<DateTimeOffset?> TimeOption(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = result =>
        {
            var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
                return time;
            result.AddError($"{name}: '{text}' is not an ISO 8601 time, e.g. 2026-11-26T11:21:30Z");
            return null;
        },
    };

    /// <summary>
    /// Runs <paramref name="body"/> with the JSONL destination (stdout, or <paramref name="outPath"/> written whole or not at all)
    /// and turns bad input into one line on <paramref name="error"/> and exit code 1.
    /// </summary>
    public static int Execute(string? outPath, TextWriter output, TextWriter error, Func<TextWriter, int> body)
    {
        var partial = outPath is null ? null : outPath + ".partial";
        try
        {
            if (partial is null)
                return body(output);
            int code;
            using (var file = new StreamWriter(partial))
                code = body(file);
            File.Move(partial, outPath!, overwrite: true);
            return code;
        }
        catch (Exception e) when (e is EventLogFormatException or IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"error: {e.Message}");
            return 1;
        }
        finally
        {
            if (partial is not null && File.Exists(partial))
                File.Delete(partial);
        }
    }
}
