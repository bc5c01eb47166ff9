using Rlhf.Cli.Operations;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Cli.Tests;

/// <summary><c>rlhf policy abort-canary</c> over the real Redis and RabbitMQ.</summary>
public sealed class PolicyAbortCanaryCommandTests : IAsyncLifetime
{
    PolicyReleaseBed bed = null!;

    public async ValueTask InitializeAsync() => bed = await PolicyReleaseBed.StartAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => bed.DisposeAsync();

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Abort_ends_the_canary_records_it_rejected_and_publishes_CanaryConcluded_with_the_live_numbers()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await PolicyAbortCanaryCommand.RunAsync(bed.Endpoints, yes: true, confirm: null, output, error, Cancel);

        Assert.True(code == 0, $"exit {code}: {output} {error}");
        Assert.Null(await bed.Registry.GetCanaryAsync(ModelKind.Policy, Cancel));
        Assert.Equal(bed.Champion, (await bed.Registry.GetPromotedAsync(ModelKind.Policy, Cancel))?.Version);
        var rejection = Assert.Single(await bed.Registry.ListRejectedAsync(ModelKind.Policy, Cancel), r => r.Version == bed.Canary);
        Assert.Equal("aborted by an operator", rejection.Reason);
        Assert.Equal(bed.Champion, rejection.ChampionVersion);
        Assert.Equal(bed.Champion, rejection.ParentVersion);
        Assert.Equal(0.75, rejection.Metrics["mean_reward"]);

        var (type, concluded) = Assert.Single(await bed.DrainOurEventsAsync(Cancel));
        Assert.Equal("CanaryConcluded", type);
        Assert.Equal(bed.Canary, concluded["candidateVersion"]!.GetValue<long>());
        Assert.Equal(bed.Champion, concluded["championVersion"]!.GetValue<long>());
        Assert.Equal(CanaryOutcome.Aborted, (CanaryOutcome)concluded["outcome"]!.GetValue<int>()); // MassTransit writes enums as numbers
        Assert.Equal("aborted by an operator", concluded["reason"]!.GetValue<string>());
        Assert.Equal(bed.Canary, concluded["candidate"]!["version"]!.GetValue<long>());
        Assert.Equal(3, concluded["candidate"]!["judgements"]!.GetValue<long>());
        Assert.Equal(2.0, concluded["candidate"]!["scoreSum"]!.GetValue<double>());
        Assert.Equal(1, concluded["candidate"]!["thumbsUp"]!.GetValue<long>());
        Assert.Equal(bed.Champion, concluded["champion"]!["version"]!.GetValue<long>());
        Assert.Equal(2.5, concluded["champion"]!["scoreSum"]!.GetValue<double>());
        Assert.Equal(3.0, concluded["champion"]!["starSum"]!.GetValue<double>());
    }

    [Fact]
    public async Task Without_a_live_canary_or_confirmation_it_is_refused_and_nothing_changes()
    {
        var unconfirmed = new StringWriter();
        Assert.Equal(1, await PolicyAbortCanaryCommand.RunAsync(bed.Endpoints, yes: false, confirm: null, new StringWriter(), unconfirmed, Cancel));
        Assert.Contains("needs confirmation: pass --yes. Nothing was changed.", unconfirmed.ToString(), StringComparison.Ordinal);
        Assert.Equal(bed.Canary, (await bed.Registry.GetCanaryAsync(ModelKind.Policy, Cancel))?.Version);

        Assert.Equal(0, await PolicyAbortCanaryCommand.RunAsync(bed.Endpoints, yes: true, confirm: null, new StringWriter(), new StringWriter(), Cancel));
        Assert.Single(await bed.DrainOurEventsAsync(Cancel));
        var rejectionsBefore = (await bed.Registry.ListRejectedAsync(ModelKind.Policy, Cancel)).Select(r => (r.Version, r.Reason, r.RejectedAt)).ToList();

        var error = new StringWriter();
        var code = await PolicyAbortCanaryCommand.RunAsync(bed.Endpoints, yes: true, confirm: null, new StringWriter(), error, Cancel);

        Assert.Equal(1, code);
        Assert.Contains("error: no policy canary is live", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("Nothing was changed.", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(rejectionsBefore, (await bed.Registry.ListRejectedAsync(ModelKind.Policy, Cancel)).Select(r => (r.Version, r.Reason, r.RejectedAt)));
        Assert.Empty(await bed.DrainOurEventsAsync(Cancel));
    }

}
