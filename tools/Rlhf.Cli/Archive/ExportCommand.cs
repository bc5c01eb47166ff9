using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using Rlhf.Archive;
using Rlhf.Contracts;

namespace Rlhf.Cli.Archive;

/// <summary>
/// <c>rlhf export preferences|sft</c>: training data from an embedded run's event log, in the layouts TRL reads
/// (prompt/chosen/rejected for RewardTrainer and DPOTrainer, messages for SFTTrainer).
/// </summary>
public static class ExportCommand
{
    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // Prompts are ChatML; keep <|im_start|> readable rather than \u003C-escaped. Output is JSONL, never HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static Command Create() =>
        new("export", "Training data from an embedded run's event log (events.jsonl) or, with --archive, the broker's archive, as JSONL.")
        {
            Preferences(), Sft(), Kto(), Comments(),
        };

    static Command Preferences()
    {
        var options = new ArchiveOptions();
        var format = new Option<string>("--format")
        {
            Description = "pairs: one {prompt, chosen, rejected} line per (better, worse) pair across tiers; " +
                "kwise: one {prompt, completions, ranks} line per ranking (rank = tier index, 0 best); " +
                "conversational: TRL's conversational preference type, prompt/chosen/rejected as message lists, from rankings, regenerations and edits (--events only)",
            DefaultValueFactory = _ => "pairs",
        };
        format.AcceptOnlyFromAmong("pairs", "kwise", "conversational");
        var command = new Command("preferences",
            "Rankings joined with their group's rollouts. Filters apply to the RankingSubmitted event; --policy-version to its rollouts.")
        {
            options.Events, options.Out, format, options.Since, options.Until, options.CorrelationId, options.GroupId, options.RolloutId,
            options.PolicyVersion,
        };
        var archive = ArchiveReplayOptions.AddTo(command, options.Events);
        command.SetAction((parse, cancel) =>
        {
            var (filter, kwise, outPath) = (options.Filter(parse), parse.GetValue(format) == "kwise", parse.GetValue(options.Out));
            var (output, error) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            if (parse.GetValue(format) == "conversational")
            {
                if (archive.Selected(parse))
                {
                    error.WriteLine("error: --format conversational reads an event log (--events); export the archive with `rlhf archive dump` first");
                    return Task.FromResult(1);
                }

                return Task.FromResult(ConversationalExports.RunPreferences(parse.GetValue(options.Events)!, filter, outPath, output, error));
            }

            return archive.Selected(parse)
                ? FromArchiveAsync(archive.Source(parse), PreferenceSelectionAsync(filter), error,
                    events => RunPreferences(events, filter, kwise, outPath, output, error), cancel)
                : Task.FromResult(RunPreferences(parse.GetValue(options.Events)!, filter, kwise, outPath, output, error));
        });
        return command;
    }

    static Command Sft()
    {
        var options = new ArchiveOptions();
        var command = new Command("sft",
            "Demonstrations as {messages: [..., {role: assistant, content: ideal response}]}. Filters apply to the DemonstrationSubmitted event.")
        {
            options.Events, options.Out, options.Since, options.Until, options.CorrelationId, options.GroupId,
        };
        var archive = ArchiveReplayOptions.AddTo(command, options.Events);
        command.SetAction((parse, cancel) =>
        {
            var (filter, outPath) = (options.Filter(parse), parse.GetValue(options.Out));
            var (output, error) = (parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
            var demonstrations = filter with { Types = new HashSet<string> { nameof(DemonstrationSubmitted) } };
            return archive.Selected(parse)
                ? FromArchiveAsync(archive.Source(parse), (source, write, stats, token) => SelectIntoAsync(source, demonstrations, write, stats, token), error,
                    events => RunSft(events, filter, outPath, output, error), cancel)
                : Task.FromResult(RunSft(parse.GetValue(options.Events)!, filter, outPath, output, error));
        });
        return command;
    }

    static Command Kto()
    {
        var options = new ArchiveOptions();
        var command = new Command("kto",
            "Ratings as TRL's conversational unpaired preference type {prompt: [...], completion: [assistant], label} (KTOTrainer): thumbs up true, " +
            "down false, 4-5 stars true, 1-2 false, 3 left out. Filters apply to the RatingSubmitted event.")
        {
            options.Events, options.Out, options.Since, options.Until, options.CorrelationId, options.GroupId, options.RolloutId,
        };
        command.SetAction(parse => ConversationalExports.RunUnpaired(parse.GetValue(options.Events)!, options.Filter(parse), parse.GetValue(options.Out),
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    static Command Comments()
    {
        var options = new ArchiveOptions();
        var flag = new Option<string?>("--flag") { Description = $"Keep comments carrying this flag ({string.Join(", ", CommentFlags.All)})" };
        var contains = new Option<string?>("--contains") { Description = "Keep comments whose text contains this (case-insensitive)" };
        var command = new Command("comments",
            "Comments and flags joined with the answer they are about (prompt messages, response). Filters apply to the CommentSubmitted event.")
        {
            options.Events, options.Out, flag, contains, options.Since, options.Until, options.GroupId, options.RolloutId,
        };
        command.SetAction(parse => CommentExport.Run(parse.GetValue(options.Events)!, options.Filter(parse), parse.GetValue(flag), parse.GetValue(contains),
            parse.GetValue(options.Out), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return command;
    }

    /// <summary>Writes the archive events an export needs (<see cref="ArchiveSelection"/> lines) through its writer.</summary>
    delegate Task ArchiveSelector(ArchiveSource source, Func<string, Task> write, ArchiveSelectionStats stats, CancellationToken cancellationToken);

    /// <summary>
    /// <c>--archive</c>: the events <paramref name="select"/> picks out of the broker's archive (through its Redis index)
    /// go to a temporary event log, which <paramref name="export"/> then reads like any <c>--events</c> file.
    /// </summary>
    static async Task<int> FromArchiveAsync(ArchiveSource source, ArchiveSelector select, TextWriter error, Func<string, int> export,
        CancellationToken cancellationToken)
    {
        var selection = Path.Combine(Path.GetTempPath(), $"rlhf-export-{Guid.NewGuid():N}.jsonl");
        try
        {
            var stats = new ArchiveSelectionStats();
            var lines = 0;
            var selected = await source.ReportingFailuresAsync(error, async () =>
            {
                await using var file = new StreamWriter(selection);
                await select(source, async line =>
                {
                    await file.WriteLineAsync(line);
                    lines++;
                }, stats, cancellationToken);
                return 0;
            });
            if (selected != 0)
                return selected;
            await error.WriteLineAsync($"read {lines} events from {source.Queue} ({stats.Read} stream entries in {stats.Attaches} attaches)");
            return export(selection);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"error: {e.Message}");
            return 1;
        }
        finally
        {
            File.Delete(selection);
        }
    }

    static async Task SelectIntoAsync(ArchiveSource source, EventFilter filter, Func<string, Task> write, ArchiveSelectionStats stats,
        CancellationToken cancellationToken)
    {
        await foreach (var line in ArchiveSelection.SelectAsync(source, filter, stats, cancellationToken))
            await write(line);
    }

    /// <summary>The rankings that match <paramref name="filter"/>, then the rollouts of their groups (see <see cref="ArchiveSelection.SelectRankingsWithRolloutsAsync"/>).</summary>
    static ArchiveSelector PreferenceSelectionAsync(EventFilter filter) => async (source, write, stats, cancellationToken) =>
    {
        await foreach (var line in ArchiveSelection.SelectRankingsWithRolloutsAsync(source, filter, stats, cancellationToken))
            await write(line);
    };

    sealed record Rollout(string GroupId, string Prompt, string Response, long? PolicyVersion);

    sealed record PreferencePair(string Prompt, string Chosen, string Rejected, string GroupId, string RaterId);

    sealed record KwiseRanking(string Prompt, IReadOnlyList<string> Completions, IReadOnlyList<int> Ranks, string GroupId, string RaterId);

    sealed record SftExample(IReadOnlyList<ChatMessage> Messages);

    /// <summary>
    /// One pass keeps every rollout's text and the matching rankings (the log may hold a ranking before the rollouts it
    /// names), then writes the rankings in file order.
    /// </summary>
    public static int RunPreferences(string eventsPath, EventFilter filter, bool kwise, string? outPath, TextWriter output, TextWriter error) =>
        ArchiveOptions.Execute(outPath, output, error, destination =>
        {
            var rolloutFilter = filter.PolicyVersion;
            var rankingFilter = filter.WithErasures(eventsPath) with { PolicyVersion = null, Types = new HashSet<string> { nameof(RankingSubmitted) } };
            var rollouts = new Dictionary<Guid, Rollout>();
            var rankings = new List<RankingSubmitted>();
            foreach (var e in EventLogReader.Read(eventsPath))
            {
                if (e.Type == nameof(RolloutGenerated) && e.ReferencedRollouts().FirstOrDefault() is var id && id != Guid.Empty)
                    rollouts[id] = new Rollout(e.GetString("groupId") ?? "", e.GetString("promptText") ?? "", e.GetString("responseText") ?? "",
                        e.GetInt64("policyVersion"));
                else if (rankingFilter.Matches(e))
                    rankings.Add(e.MessageAs<RankingSubmitted>());
            }

            int lines = 0, used = 0, unknown = 0, singleTier = 0, otherPolicy = 0;
            foreach (var ranking in rankings)
            {
                var tiers = new List<List<Rollout>>();
                foreach (var tier in ranking.RankedRolloutIds)
                {
                    var texts = tier.Select(id => rollouts.GetValueOrDefault(id)).Where(r => r?.GroupId == ranking.GroupId).ToList();
                    if (texts.Count != tier.Count)
                        break;
                    tiers.Add(texts!);
                }

                if (tiers.Count != ranking.RankedRolloutIds.Count || tiers.Count == 0)
                {
                    unknown++;
                    continue;
                }

                if (rolloutFilter is { } version && tiers[0][0].PolicyVersion != version)
                {
                    otherPolicy++;
                    continue;
                }

                if (tiers.Count == 1)
                {
                    singleTier++;
                    continue;
                }

                used++;
                var prompt = tiers[0][0].Prompt;
                if (kwise)
                {
                    var ranked = tiers.SelectMany((tier, rank) => tier.Select(r => (r.Response, Rank: rank))).ToList();
                    destination.WriteLine(JsonSerializer.Serialize(
                        new KwiseRanking(prompt, [.. ranked.Select(r => r.Response)], [.. ranked.Select(r => r.Rank)], ranking.GroupId, ranking.RaterId), Json));
                    lines++;
                    continue;
                }

                for (var better = 0; better < tiers.Count; better++)
                    for (var worse = better + 1; worse < tiers.Count; worse++)
                        foreach (var chosen in tiers[better])
                            foreach (var rejected in tiers[worse])
                            {
                                destination.WriteLine(JsonSerializer.Serialize(
                                    new PreferencePair(prompt, chosen.Response, rejected.Response, ranking.GroupId, ranking.RaterId), Json));
                                lines++;
                            }
            }

            destination.Flush();
            error.WriteLine(
                $"exported {lines} {(kwise ? "rankings" : "pairs")} from {used} of {rankings.Count} rankings; " +
                $"skipped {unknown} rankings with unknown rollouts, {singleTier} with a single tier (no preference)" +
                (rolloutFilter is null ? "" : $", {otherPolicy} of another policy version"));
            return 0;
        });

    public static int RunSft(string eventsPath, EventFilter filter, string? outPath, TextWriter output, TextWriter error) =>
        ArchiveOptions.Execute(outPath, output, error, destination =>
        {
            var demonstrations = filter.WithErasures(eventsPath) with { Types = new HashSet<string> { nameof(DemonstrationSubmitted) } };
            var lines = 0;
            foreach (var e in EventLogReader.Read(eventsPath))
            {
                if (!demonstrations.Matches(e))
                    continue;
                var demonstration = e.MessageAs<DemonstrationSubmitted>();
                destination.WriteLine(JsonSerializer.Serialize(
                    new SftExample([.. demonstration.Messages ?? [], new ChatMessage("assistant", demonstration.IdealResponse)]), Json));
                lines++;
            }

            destination.Flush();
            error.WriteLine($"exported {lines} demonstrations");
            return 0;
        });
}
