using System.CommandLine;
using Rlhf.Archive;

namespace Rlhf.Cli.Archive;

/// <summary>
/// <c>rlhf replay</c>: the events of an embedded run's log that match a filter, as stored (headers included), in file order;
/// with <c>--archive</c>, the broker archive's events found through its Redis index (<see cref="ArchiveSelection"/>).
/// </summary>
public static class ReplayCommand
{
    public static Command Create()
    {
        var options = new ArchiveOptions();
        var types = new Option<string[]>("--type")
        {
            Description = "Keep events of this type (repeatable): " + string.Join(", ", EventFilter.KnownTypes),
            DefaultValueFactory = _ => [],
        };
        types.AcceptOnlyFromAmong(StringComparer.OrdinalIgnoreCase, [.. EventFilter.KnownTypes]);
        var offset = new Option<int>("--offset") { Description = "Skip this many matching events", DefaultValueFactory = _ => 0 };
        var limit = new Option<int?>("--limit") { Description = "Write at most this many matching events" };
        offset.Validators.Add(result => { if (result.GetValueOrDefault<int>() < 0) result.AddError("--offset must be 0 or more"); });
        limit.Validators.Add(result => { if (result.GetValueOrDefault<int?>() < 0) result.AddError("--limit must be 0 or more"); });
        var command = new Command("replay",
            "Write the events of an embedded run's event log (events.jsonl) that match every filter given, one JSON line each, as stored.")
        {
            options.Events, options.Out, options.Since, options.Until, types, options.CorrelationId, options.GroupId,
            options.RolloutId, options.PolicyVersion, offset, limit,
        };
        var archive = ArchiveReplayOptions.AddTo(command, options.Events);
        var publish = ReplayPublishOptions.AddTo(command, options.Out);
        command.SetAction((parse, cancel) =>
        {
            var selected = parse.GetValue(types)!;
            var filter = options.Filter(parse) with
            {
                Types = selected.Length == 0
                    ? null
                    : EventFilter.KnownTypes.Where(t => selected.Contains(t, StringComparer.OrdinalIgnoreCase)).ToHashSet(),
            };
            if (publish.Requested(parse) && archive.Selected(parse))
                return PublishArchiveSelectionAsync(parse, archive, publish, filter, parse.GetValue(offset), parse.GetValue(limit), cancel);
            if (publish.Run(parse, parse.GetValue(options.Events), filter, parse.GetValue(offset), parse.GetValue(limit), cancel) is { } published)
                return published;
            if (archive.Selected(parse))
                return ArchiveSelection.ReplayAsync(archive.Source(parse), filter, parse.GetValue(offset), parse.GetValue(limit), parse.GetValue(options.Out),
                    parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel);
            return Task.FromResult(Run(parse.GetValue(options.Events)!, filter, parse.GetValue(offset), parse.GetValue(limit), parse.GetValue(options.Out),
                parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        });
        return command;
    }

    /// <summary>
    /// <c>--archive</c> with <c>--publish-to</c>: the selection is written to a temporary event log first (the publisher
    /// reads its selection twice: rollouts to seed the sandbox, then the events in order), then published from it.
    /// </summary>
    static async Task<int> PublishArchiveSelectionAsync(ParseResult parse, ArchiveReplayOptions archive, ReplayPublishOptions publish, EventFilter filter,
        int offset, int? limit, CancellationToken cancellationToken)
    {
        var selection = Path.Combine(Path.GetTempPath(), $"rlhf-replay-{Guid.NewGuid():N}.jsonl");
        try
        {
            var selected = await ArchiveSelection.ReplayAsync(archive.Source(parse), filter, offset, limit, selection,
                parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancellationToken);
            if (selected != 0)
                return selected;
            return await publish.Run(parse, selection, new EventFilter(), 0, null, cancellationToken)!;
        }
        finally
        {
            File.Delete(selection);
        }
    }

    /// <summary>Writes the matching lines to <paramref name="outPath"/> or <paramref name="output"/>; a summary goes to <paramref name="error"/>.</summary>
    public static int Run(string eventsPath, EventFilter filter, int offset, int? limit, string? outPath, TextWriter output, TextWriter error) =>
        ArchiveOptions.Execute(outPath, output, error, destination =>
        {
            filter = filter.WithGroupRollouts(eventsPath).WithErasures(eventsPath);
            int read = 0, matched = 0, written = 0;
            foreach (var e in EventLogReader.Read(eventsPath))
            {
                if (written == limit)
                    break;
                read++;
                if (!filter.Matches(e) || matched++ < offset)
                    continue;
                destination.WriteLine(e.Line);
                written++;
            }

            destination.Flush();
            error.WriteLine($"replayed {written} events ({matched} matched in the first {read} read)");
            return 0;
        });
}
