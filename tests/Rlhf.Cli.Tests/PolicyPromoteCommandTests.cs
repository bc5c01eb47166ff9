using Rlhf.Cli.Operations;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Cli.Tests;

/// <summary>
/// <c>rlhf policy promote</c> over the real Redis and RabbitMQ: the live canary is promoted by ending its canary; a
/// rejected version needs --force, and then the live canary is aborted first; refusals change and publish nothing.
/// </summary>
public sealed class PolicyPromoteCommandTests : IAsyncLifetime
{
    PolicyReleaseBed bed = null!;

    public async ValueTask InitializeAsync() => bed = await PolicyReleaseBed.StartAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => bed.DisposeAsync();

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Promoting_the_canary_ends_it_promoted_and_publishes_PolicyUpdated_and_CanaryConcluded()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await PolicyPromoteCommand.RunAsync(bed.Endpoints, bed.Canary, force: false, yes: true, confirm: null, output, error, Cancel);

        Assert.True(code == 0, $"exit {code}: {output} {error}");
        Assert.Contains($"Promoted canary {bed.Canary} in the registry (was version {bed.Champion})", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("promotion is paused", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(bed.Canary, (await bed.Registry.GetPromotedAsync(ModelKind.Policy, Cancel))?.Version);
        Assert.Null(await bed.Registry.GetCanaryAsync(ModelKind.Policy, Cancel));
        Assert.NotNull(await bed.Registry.GetPromotionPauseAsync(ModelKind.Policy, Cancel));

        var events = await bed.DrainOurEventsAsync(Cancel);
        Assert.Equal(["PolicyUpdated", "CanaryConcluded"], events.Select(e => e.Type));
        var update = events[0].Message;
        Assert.Equal(bed.Canary, update["policyVersion"]!.GetValue<long>());
        Assert.Equal(bed.Champion, update["parentVersion"]!.GetValue<long>());
        Assert.False(update["isRollback"]!.GetValue<bool>());
        Assert.Equal(bed.Blob(bed.Canary).Sha256, update["blob"]!["sha256"]!.GetValue<string>());
        Assert.Equal(0.75, update["metrics"]!["meanReward"]!.GetValue<double>());
        Assert.Equal(64, update["metrics"]!["rolloutsUsed"]!.GetValue<int>());
        var concluded = events[1].Message;
        Assert.Equal(bed.Canary, concluded["candidateVersion"]!.GetValue<long>());
        Assert.Equal(bed.Champion, concluded["championVersion"]!.GetValue<long>());
        Assert.Equal(CanaryOutcome.Promoted, (CanaryOutcome)concluded["outcome"]!.GetValue<int>()); // MassTransit writes enums as numbers
        Assert.Equal("promoted by an operator", concluded["reason"]!.GetValue<string>());
        Assert.Equal(3, concluded["candidate"]!["judgements"]!.GetValue<long>());
        Assert.Equal(2, concluded["champion"]!["thumbsUp"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_rejected_version_needs_force_and_then_the_live_canary_is_aborted_first()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var refused = await PolicyPromoteCommand.RunAsync(bed.Endpoints, bed.RolledBack, force: false, yes: true, confirm: null, output, error, Cancel);

        Assert.True(refused == 1, $"exit {refused}: {output} {error}");
        Assert.Contains($"policy version {bed.RolledBack} was rejected at 2026-12-06 09:00:00 UTC (champion {bed.Champion}: {PolicyReleaseBed.RolledBackReason}): " +
            "pass --force to promote it anyway. Nothing was changed.", error.ToString(), StringComparison.Ordinal);
        await AssertUnchangedAsync();

        output = new StringWriter();
        error = new StringWriter();
        var forced = await PolicyPromoteCommand.RunAsync(bed.Endpoints, bed.RolledBack, force: true, yes: true, confirm: null, output, error, Cancel);

        Assert.True(forced == 0, $"exit {forced}: {output} {error}");
        Assert.Contains($"Ended canary {bed.Canary} in the registry without promoting it", output.ToString(), StringComparison.Ordinal);
        Assert.Contains($"Promoted policy version {bed.RolledBack} in the registry (was version {bed.Champion})", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(bed.RolledBack, (await bed.Registry.GetPromotedAsync(ModelKind.Policy, Cancel))?.Version);
        Assert.Null(await bed.Registry.GetCanaryAsync(ModelKind.Policy, Cancel));
        var aborted = Assert.Single(await bed.Registry.ListRejectedAsync(ModelKind.Policy, Cancel), r => r.Version == bed.Canary);
        Assert.Equal($"aborted by an operator (policy version {bed.RolledBack} promoted instead)", aborted.Reason);
        Assert.Equal(bed.Champion, aborted.ChampionVersion);

        var events = await bed.DrainOurEventsAsync(Cancel);
        Assert.Equal(["PolicyUpdated", "CanaryConcluded"], events.Select(e => e.Type));
        Assert.Equal(bed.RolledBack, events[0].Message["policyVersion"]!.GetValue<long>());
        Assert.True(events[0].Message["isRollback"]!.GetValue<bool>());
        Assert.Equal(bed.Blob(bed.RolledBack).Sha256, events[0].Message["blob"]!["sha256"]!.GetValue<string>());
        Assert.Equal(bed.Canary, events[1].Message["candidateVersion"]!.GetValue<long>());
        Assert.Equal(CanaryOutcome.Aborted, (CanaryOutcome)events[1].Message["outcome"]!.GetValue<int>()); // MassTransit writes enums as numbers
        Assert.Equal(3, events[1].Message["candidate"]!["judgements"]!.GetValue<long>());
    }

    [Fact]
    public async Task Refusals_exit_1_change_nothing_and_publish_nothing()
    {
        await bed.Blobs.DeleteAsync(bed.Blob(bed.OldChampion), Cancel);
        (long Version, bool Yes, string Expected)[] cases =
        [
            (99, true, "policy version 99 is not registered"),
            (bed.Champion, true, $"policy version {bed.Champion} is already the promoted version"),
            (bed.OldChampion, true, "is missing"),
            (bed.Canary, false, "needs confirmation: pass --yes"),
        ];
        foreach (var (version, yes, expected) in cases)
        {
            var output = new StringWriter();
            var error = new StringWriter();
            var code = await PolicyPromoteCommand.RunAsync(bed.Endpoints, version, force: false, yes, confirm: null, output, error, Cancel);
            Assert.True(code == 1, $"promote {version}: exit {code}, stdout {output}, stderr {error}");
            Assert.Contains(expected, error.ToString(), StringComparison.Ordinal);
            Assert.Contains("Nothing was changed", error.ToString(), StringComparison.Ordinal);
        }

        var declined = new StringWriter();
        Assert.Equal(1, await PolicyPromoteCommand.RunAsync(bed.Endpoints, bed.Canary, force: false, yes: false, new StringReader("n\n"), declined,
            new StringWriter(), Cancel));
        Assert.Contains($"Promote policy version {bed.Canary} (the live canary) over version {bed.Champion}", declined.ToString(), StringComparison.Ordinal);
        Assert.Contains("Cancelled", declined.ToString(), StringComparison.Ordinal);
        await AssertUnchangedAsync();
    }

    async Task AssertUnchangedAsync()
    {
        Assert.Equal(bed.Champion, (await bed.Registry.GetPromotedAsync(ModelKind.Policy, Cancel))?.Version);
        Assert.Equal(bed.Canary, (await bed.Registry.GetCanaryAsync(ModelKind.Policy, Cancel))?.Version);
        Assert.DoesNotContain(await bed.Registry.ListRejectedAsync(ModelKind.Policy, Cancel), r => r.Version == bed.Canary);
        Assert.Empty(await bed.DrainOurEventsAsync(Cancel));
    }
}
