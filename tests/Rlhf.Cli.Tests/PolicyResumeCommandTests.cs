using Rlhf.Cli.Operations;
using Rlhf.Storage;

namespace Rlhf.Cli.Tests;

/// <summary><c>rlhf policy resume</c> over the real Redis.</summary>
public sealed class PolicyResumeCommandTests : IAsyncLifetime
{
    PolicyReleaseBed bed = null!;

    public async ValueTask InitializeAsync() => bed = await PolicyReleaseBed.StartAsync(TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync() => bed.DisposeAsync();

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Resume_lifts_the_pause_once_and_is_refused_when_not_paused()
    {
        var unconfirmed = new StringWriter();
        Assert.Equal(1, await PolicyResumeCommand.RunAsync(bed.Endpoints, yes: false, confirm: null, new StringWriter(), unconfirmed, Cancel));
        Assert.Contains("needs confirmation: pass --yes. Nothing was changed.", unconfirmed.ToString(), StringComparison.Ordinal);
        Assert.NotNull(await bed.Registry.GetPromotionPauseAsync(ModelKind.Policy, Cancel));

        var output = new StringWriter();
        var error = new StringWriter();
        var code = await PolicyResumeCommand.RunAsync(bed.Endpoints, yes: false, new StringReader("yes\n"), output, error, Cancel);

        Assert.True(code == 0, $"exit {code}: {output} {error}");
        Assert.Contains($"Resume policy promotion (paused since 2026-12-06 09:30:00 UTC: {PolicyReleaseBed.PauseReason};", output.ToString(),
            StringComparison.Ordinal);
        Assert.Contains("Resumed policy promotion", output.ToString(), StringComparison.Ordinal);
        Assert.Null(await bed.Registry.GetPromotionPauseAsync(ModelKind.Policy, Cancel));

        var again = new StringWriter();
        Assert.Equal(1, await PolicyResumeCommand.RunAsync(bed.Endpoints, yes: true, confirm: null, new StringWriter(), again, Cancel));
        Assert.Contains("error: policy promotion is not paused", again.ToString(), StringComparison.Ordinal);
    }
}
