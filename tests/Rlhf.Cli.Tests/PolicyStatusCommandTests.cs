using System.Text.Json.Nodes;
using Rlhf.Cli.Operations;

namespace Rlhf.Cli.Tests;

/// <summary><c>rlhf policy status</c> on a registry with a champion, a canary with live feedback, a pause and rejections.</summary>
public sealed class PolicyStatusCommandTests : IAsyncLifetime
{
    PolicyReleaseBed bed = null!;

    public async ValueTask InitializeAsync() => bed = await PolicyReleaseBed.StartAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => bed.DisposeAsync();

    [Fact]
    public async Task Text_shows_champion_canary_with_live_numbers_pause_and_newest_verdicts()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await PolicyStatusCommand.RunAsync(bed.Endpoints, json: false, last: 5, output, error, TestContext.Current.CancellationToken);

        Assert.True(code == 0, error.ToString());
        var text = output.ToString();
        var lines = text.Split('\n').Select(l => l.Trim(' ', '│', '|')).ToList();
        Assert.Contains($"version  {bed.Champion} (parent {bed.OldChampion})", lines);
        Assert.Contains($"weights  {bed.Blob(bed.Champion).Sha256[..12]} (4.0 KiB, safetensors)", lines);
        Assert.Contains(lines, l => l.StartsWith("metrics  mean_reward 0.5  kl_to_reference 0.0125  rollouts_used 64", StringComparison.Ordinal));
        Assert.Contains($"version {bed.Canary} on canary next to champion {bed.Champion}", text, StringComparison.Ordinal);

        // Canary: 3 judgements (scores 1, 0, 1), thumbs 1 of 2, stars 5. Champion: 3 (1, 1, 0.5), thumbs 2 of 2, stars 3.
        var canary = Assert.Single(lines, l => l.StartsWith("canary ", StringComparison.Ordinal));
        Assert.Equal(["canary", $"{bed.Canary}", "3", "0.667", "0.500", "of", "2", "5.00", "of", "1"], Words(canary));
        var champion = Assert.Single(lines, l => l.StartsWith("champion ", StringComparison.Ordinal));
        Assert.Equal(["champion", $"{bed.Champion}", "3", "0.833", "1.000", "of", "2", "3.00", "of", "1"], Words(champion));

        Assert.Contains($"PAUSED since 2026-12-06 09:30:00 UTC: {PolicyReleaseBed.PauseReason}", lines);

        // Newest first per kind: the gate rejection (10:00), then the rolled-back canary (09:00); the reward model.
        var verdicts = lines.SkipWhile(l => !l.StartsWith("Last gate verdicts", StringComparison.Ordinal)).ToList();
        Assert.Equal("Last gate verdicts (rejections, newest first, up to 5 per kind):", verdicts[0]);
        var rows = verdicts.Where(l => l.StartsWith("policy ", StringComparison.Ordinal) || l.StartsWith("reward ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, rows.Count);
        Assert.Equal(["policy", $"{bed.GateRejected}", $"{bed.Champion}", "2026-12-06", "10:00:00"], Words(rows[0]).Take(5));
        Assert.EndsWith(PolicyReleaseBed.GateReason, rows[0], StringComparison.Ordinal);
        Assert.Equal(["policy", $"{bed.RolledBack}", $"{bed.Champion}", "2026-12-06", "09:00:00"], Words(rows[1]).Take(5));
        Assert.EndsWith(PolicyReleaseBed.RolledBackReason, rows[1], StringComparison.Ordinal);
        Assert.Equal(["reward", "7", "6", "2026-12-06", "09:30:00"], Words(rows[2]).Take(5));
        Assert.EndsWith(PolicyReleaseBed.RewardReason, rows[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_is_one_document_with_every_part_and_last_limits_the_verdicts()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await PolicyStatusCommand.RunAsync(bed.Endpoints, json: true, last: 1, output, error, TestContext.Current.CancellationToken);

        Assert.True(code == 0, error.ToString());
        var document = JsonNode.Parse(output.ToString())!;
        Assert.Equal(bed.Champion, document["champion"]!["version"]!.GetValue<long>());
        Assert.Equal(bed.Blob(bed.Champion).Sha256, document["champion"]!["blob"]!["sha256"]!.GetValue<string>());
        Assert.Equal(0.5, document["champion"]!["metrics"]!["mean_reward"]!.GetValue<double>());

        var canary = document["canary"]!;
        Assert.Equal(bed.Canary, canary["version"]!.GetValue<long>());
        Assert.Equal(bed.Champion, canary["championVersion"]!.GetValue<long>());
        var live = canary["live"]!["canary"]!;
        Assert.Equal(bed.Canary, live["version"]!.GetValue<long>());
        Assert.Equal(3, live["judgements"]!.GetValue<long>());
        Assert.Equal(2.0 / 3, live["meanScore"]!.GetValue<double>(), 12);
        Assert.Equal(0.5, live["thumbsUpRate"]!.GetValue<double>());
        Assert.Equal(5, live["meanStars"]!.GetValue<double>());
        var championLive = canary["live"]!["champion"]!;
        Assert.Equal(bed.Champion, championLive["version"]!.GetValue<long>());
        Assert.Equal(2.5 / 3, championLive["meanScore"]!.GetValue<double>(), 12);
        Assert.Equal(1, championLive["thumbsUpRate"]!.GetValue<double>());
        Assert.Equal(3, championLive["meanStars"]!.GetValue<double>());

        Assert.Equal(PolicyReleaseBed.PauseReason, document["promotionPause"]!["reason"]!.GetValue<string>());
        Assert.Equal(bed.PausedAt, document["promotionPause"]!["pausedAt"]!.GetValue<DateTimeOffset>());

        var policy = Assert.Single(document["rejections"]!["policy"]!.AsArray())!;
        Assert.Equal(bed.GateRejected, policy["version"]!.GetValue<long>());
        Assert.Equal(bed.Champion, policy["championVersion"]!.GetValue<long>());
        Assert.Equal(PolicyReleaseBed.GateReason, policy["reason"]!.GetValue<string>());
        var reward = Assert.Single(document["rejections"]!["reward"]!.AsArray())!;
        Assert.Equal(PolicyReleaseBed.RewardRejected, reward["version"]!.GetValue<long>());
    }

    [Fact]
    public async Task Empty_registry_reports_nothing_promoted_no_canary_and_no_pause()
    {
        var empty = bed.Endpoints with { KeyPrefix = bed.Endpoints.KeyPrefix + "empty:" };
        var text = new StringWriter();
        var json = new StringWriter();

        Assert.Equal(0, await PolicyStatusCommand.RunAsync(empty, json: false, last: 5, text, new StringWriter(), TestContext.Current.CancellationToken));
        Assert.Equal(0, await PolicyStatusCommand.RunAsync(empty, json: true, last: 5, json, new StringWriter(), TestContext.Current.CancellationToken));

        Assert.Contains("none promoted: generation serves its base checkpoint", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("none live", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("not paused", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("no rejected policy or reward-model candidates", text.ToString(), StringComparison.Ordinal);
        var document = JsonNode.Parse(json.ToString())!;
        Assert.Null(document["champion"]);
        Assert.Null(document["canary"]);
        Assert.Null(document["promotionPause"]);
        Assert.Empty(document["rejections"]!["policy"]!.AsArray());
    }

    static string[] Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
