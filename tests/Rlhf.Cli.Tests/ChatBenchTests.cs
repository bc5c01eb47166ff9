using System.Diagnostics;
using Rlhf.Cli.Embedded;
using Rlhf.Testing;

namespace Rlhf.Cli.Tests;

/// <summary>
/// <c>rlhf bench chat</c> against a running generation service (the embedded platform, on port 0): it streams answers,
/// rates them through the feedback API, and stops and resumes the process it is given as the learner (a <c>sleep</c>
/// here), which it must leave running. Speed is not asserted.
/// </summary>
public sealed class ChatBenchTests : IAsyncLifetime
{
    const string Key = "chat-bench-test-key-4b1d";
    readonly string directory = Path.Combine(Path.GetTempPath(), $"rlhf-cli-chatbench-{Guid.NewGuid():N}");
    Microsoft.AspNetCore.Builder.WebApplication app = null!;
    string url = null!;

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(directory);
        var model = Path.Combine(directory, "policy");
        TinyPolicy.Save(model, seed: 3);
        app = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, new Dictionary<string, string?>
        {
            ["Generation:ModelPath"] = model,
            ["Reward:ModelPath"] = model,
        }, Key, events: null, PlatformServices.Generation | PlatformServices.Feedback | PlatformServices.Reward);
        await app.StartAsync(TestContext.Current.CancellationToken);
        url = app.Urls.First();
    }

    public async ValueTask DisposeAsync()
    {
        using (var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
            await app.StopAsync(stopping.Token);
        await app.DisposeAsync();
        TestDirectory.Delete(directory);
    }

    [Fact]
    public async Task Chat_streams_and_rates_answers_with_the_learner_stopped_and_running_and_leaves_it_running()
    {
        using var learner = Process.Start("sleep", "300");
        try
        {
            var run = await BenchRun.StartAsync("chat", "--chat-url", url, "--feedback-url", url, "--api-key", Key, "--connections", "2",
                "--max-tokens", "4", "--warmup-seconds", "0", "--seconds", "1", "--rounds", "1", "--learner-pid", learner.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

            Assert.Equal(0, run.Code);
            run.AssertFinite("running_rate", "stopped_rate", "running_ttft_p50_ms", "stopped_ttft_p99_ms", "running_total_p99_ms", "ttft_p99_ratio", "total_p99_ratio");
            Assert.True(run.Values["running_answers"] > 0 && run.Values["stopped_answers"] > 0, run.Output);
            Assert.True(run.Values["running_rated"] > 0 && run.Values["stopped_rated"] > 0, run.Output); // 202 from the feedback API
            Assert.Contains($"learner {learner.Id} stopped", run.Output, StringComparison.Ordinal);
            // Resumed at the end: not in state T (stopped).
            var state = File.ReadAllText($"/proc/{learner.Id}/stat").Split(')')[1].Trim()[0];
            Assert.NotEqual('T', state);
        }
        finally
        {
            learner.Kill();
        }
    }
}
