using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Rlhf.Storage;
using Spectre.Console;
using StackExchange.Redis;

using Rlhf.Learner.Admin;

namespace Rlhf.Cli.Operations;

/// <summary>
/// <c>rlhf policy status [--last N] [--json]</c>: the deployment's release at a glance (champion, canary with live
/// feedback, promotion pause, newest gate verdicts). Panels and a table for people, one JSON document with --json.
/// </summary>
public static class PolicyStatusCommand
{
    public static Command Create(Func<ParseResult, PolicyEndpoints> endpoints)
    {
        var json = new Option<bool>("--json") { Description = "Write one JSON document instead of panels and tables" };
        var last = new Option<int>("--last") { Description = "Newest gate verdicts (rejection records) to show per kind", DefaultValueFactory = _ => 5 };
        last.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError("--last must be 0 or more"); });
        var status = new Command("status",
            "Show the champion (promoted policy) and its metrics, the live canary with both sides' live feedback, the promotion pause, " +
            "and the newest gate verdicts for policies and reward models.")
        {
            json, last,
        };
        status.SetAction((parse, cancel) => RunAsync(endpoints(parse), parse.GetValue(json), parse.GetValue(last), parse.InvocationConfiguration.Output,
            parse.InvocationConfiguration.Error, cancel));
        return status;
    }

    /// <summary>Writes the status (with <paramref name="json"/>, one JSON document); 1 when Redis cannot be read.</summary>
    public static async Task<int> RunAsync(PolicyEndpoints endpoints, bool json, int last, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        var redis = await PolicyOperation.ConnectAsync(endpoints, changes: false, error);
        if (redis is null)
            return 1;

        await using (redis)
        {
            PolicyReleaseStatus status;
            try
            {
                status = await PolicyReleaseStatus.ReadAsync(new RedisModelRegistry(redis, endpoints.KeyPrefix), PolicyOperation.LiveFeedback(redis, endpoints),
                    last, cancellationToken);
            }
            catch (RedisException e)
            {
                error.WriteLine(PolicyOperation.UnreadableRegistry(endpoints, e, changes: false));
                return 1;
            }

            if (json)
            {
                output.WriteLine(JsonSerializer.Serialize(status.ToJson(endpoints.KeyPrefix), JsonOutput.Options));
                return 0;
            }

            output.WriteLine($"Policy release under key prefix '{endpoints.KeyPrefix}' (Redis {endpoints.Redis})");
            ConsoleTables.Write(ChampionPanel(status.Champion), output);
            ConsoleTables.Write(CanaryPanel(status.Canary), output);
            ConsoleTables.Write(PausePanel(status.Pause), output);
            WriteVerdicts(status, last, output);
            return 0;
        }
    }

    static Panel ChampionPanel(ModelVersionRecord? champion)
    {
        if (champion is null)
            return new Panel(new Text("none promoted: generation serves its base checkpoint")).Header("Champion");
        var grid = new Grid().AddColumn().AddColumn();
        grid.AddRow(new Text("version"), new Text($"{champion.Version} (parent {PolicyFormat.Version(champion.ParentVersion)})"));
        grid.AddRow(new Text("created"), new Text($"{PolicyFormat.Time(champion.CreatedAt)} UTC"));
        grid.AddRow(new Text("weights"), new Text($"{PolicyFormat.ShortSha(champion.Blob.Sha256)} ({PolicyFormat.Size(champion.Blob.Bytes)}, {champion.Blob.Format})"));
        grid.AddRow(new Text("metrics"), new Text(champion.Metrics.Count == 0
            ? "-"
            : string.Join("  ", champion.Metrics.Select(m => $"{m.Key} {m.Value.ToString("G4", CultureInfo.InvariantCulture)}"))));
        return new Panel(grid).Header("Champion");
    }

    static Panel CanaryPanel(LiveCanary? canary)
    {
        if (canary is null)
            return new Panel(new Text("none live")).Header("Canary");
        var table = ConsoleTables.Create(("SIDE", Justify.Left), ("VERSION", Justify.Left), ("JUDGEMENTS", Justify.Right), ("MEAN SCORE", Justify.Right),
            ("THUMBS-UP RATE", Justify.Right), ("MEAN STARS", Justify.Right));
        foreach (var (side, live) in new[] { ("canary", canary.Candidate), ("champion", canary.Champion) })
        {
            table.AddTextRow([
                side,
                live.Version.ToString(CultureInfo.InvariantCulture),
                live.Judgements.ToString(CultureInfo.InvariantCulture),
                PolicyFormat.Number(live.MeanScore, "F3"),
                live.ThumbsUpRate is { } rate ? $"{rate.ToString("F3", CultureInfo.InvariantCulture)} of {live.Thumbs}" : "-",
                live.MeanStars is { } stars ? $"{stars.ToString("F2", CultureInfo.InvariantCulture)} of {live.Stars}" : "-",
            ]);
        }

        var heading = new Text($"version {canary.Version} on canary next to champion {canary.ChampionVersion} (registered " +
            $"{PolicyFormat.Time(canary.Record.CreatedAt)} UTC, weights {PolicyFormat.ShortSha(canary.Record.Blob.Sha256)}); live feedback since it started:");
        return new Panel(new Rows(heading, table)).Header("Canary");
    }

    static Panel PausePanel(PromotionPause? pause) =>
        new Panel(new Text(pause is null ? "not paused" : $"PAUSED since {PolicyFormat.Time(pause.PausedAt)} UTC: {pause.Reason}")).Header("Promotion");

    static void WriteVerdicts(PolicyReleaseStatus status, int last, TextWriter output)
    {
        var rows = status.PolicyRejections.Select(r => ("policy", r)).Concat(status.RewardRejections.Select(r => ("reward", r))).ToList();
        if (rows.Count == 0)
        {
            output.WriteLine(last == 0 ? "Gate verdicts: not shown (--last 0)." : "Gate verdicts: no rejected policy or reward-model candidates.");
            return;
        }

        output.WriteLine($"Last gate verdicts (rejections, newest first, up to {last} per kind):");
        var table = ConsoleTables.Create(("KIND", Justify.Left), ("VERSION", Justify.Left), ("CHAMPION", Justify.Left), ("REJECTED (UTC)", Justify.Left),
            ("REASON", Justify.Left));
        foreach (var (kind, r) in rows)
            table.AddTextRow([kind, r.Version.ToString(CultureInfo.InvariantCulture), PolicyFormat.Version(r.ChampionVersion), PolicyFormat.Time(r.RejectedAt), r.Reason]);
        ConsoleTables.Write(table, output);
    }
}
