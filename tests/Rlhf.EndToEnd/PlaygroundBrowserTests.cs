using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Rlhf.Cli.Embedded;
using Rlhf.Contracts;
using Rlhf.Generation.Policy;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.EndToEnd;

/// <summary>
/// The dashboard's playground in headless Chromium (Debian's <c>chromium</c> through Playwright) on a running platform
/// (generation, feedback, reward and dashboard in one process): with champion v1 and canary v2 served, the operator signs
/// in, follows the link to the playground, asks one question and gets two answers from each version side by side,
/// ranks the champion's answers and thumbs a canary answer; both reach the reward journal, and the dashboard's charts
/// show the loop's rollouts, the versions and the reward model the ranking trained. A second judgement of the same group by the same
/// rater shows the feedback API's refusal. Screenshot: <c>TestResults/screenshots/playground.png</c>.
/// </summary>
public sealed class PlaygroundBrowserTests : IDisposable
{
    const string ApiKey = "playground-client-key";
    const string OperatorKey = "playground-operator-key";
    static readonly PolicyMetrics Metrics = new(0.01, 0.5, 0.1, 0.2, null, 0.05, 64, null, null, null);

    readonly string directory = Path.Combine(Path.GetTempPath(), $"rlhf-playground-{Guid.NewGuid():N}");
    readonly TinyPolicy champion = new(version: 1, seed: 11);
    readonly TinyPolicy canary = new(version: 2, seed: 12);

    public PlaygroundBrowserTests() => TinyPolicy.Save(Path.Combine(directory, "policy"), seed: 5);

    public void Dispose()
    {
        champion.Dispose();
        canary.Dispose();
        TestDirectory.Delete(directory);
    }

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    Dictionary<string, string?> Settings() => new()
    {
        ["Generation:ModelPath"] = Path.Combine(directory, "policy"),
        ["Generation:MaxTokensLimit"] = "16",
        ["Generation:DefaultMaxTokens"] = "16",
        ["Generation:CanaryShare"] = "0.5",
        ["Reward:ModelPath"] = Path.Combine(directory, "policy"),
        ["Reward:Threads"] = "1",
        ["Reward:HeldOutShare"] = "0",
        ["Reward:TrainEvery"] = "1",
        ["Reward:StepsPerRound"] = "1",
        ["Dashboard:OperatorKey"] = OperatorKey,
    };

    [Fact]
    public async Task Operator_chats_with_champion_and_canary_and_their_ranking_and_thumb_reach_the_reward_journal()
    {
        // Port 0: the host binds a free port when it starts; the playground calls that bound address (EmbeddedPlatform).
        await using var app = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, Settings(), ApiKey, events: null,
            PlatformServices.Generation | PlatformServices.Feedback | PlatformServices.Reward | PlatformServices.Dashboard);
        await app.StartAsync(Cancel);
        var url = app.Urls.First();
        await ServeChampionAndCanaryAsync(app.Services, url);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ExternalTool.Find("chromium", "chromium"),
            Headless = true,
            Args = ["--no-sandbox"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        var console = new List<string>();
        page.Console += (_, message) => console.Add($"{message.Type}: {message.Text}");
        page.PageError += (_, error) => console.Add($"page error: {error}");
        try
        {
            var (championGroup, canaryGroup) = await UsePlaygroundAsync(page, url);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = TestArtifacts.Screenshot("playground.png"), FullPage = true });

            // Both judgements are in the reward model's training set, each on its own version's group.
            var journal = app.Services.GetRequiredService<IFeedbackJournal>();
            var entries = await WaitForJournalAsync(journal, 2);
            Assert.Contains(entries, e => e.Kind == "ranking" && e.GroupId == championGroup);
            Assert.Contains(entries, e => e.Kind == "rating" && e.GroupId == canaryGroup);

            // The operator's page shows this running loop: the playground's rollouts in the throughput chart (live
            // events), the reward model the ranking trained in the release line and both versions in the table (registry).
            var versions = await page.APIRequest.GetAsync($"{url}/v1/dashboard/versions");
            Assert.True(versions.Ok, $"versions: {versions.Status} {await versions.TextAsync()}");
            await page.ClickAsync("text=dashboard");
            await page.WaitForURLAsync("**/dashboard");
            await page.WaitForSelectorAsync("#chart-throughput:not([data-points='0'])");
            await page.WaitForFunctionAsync("() => /reward model v[1-9]/.test(document.querySelector('#release').textContent)", null,
                new PageWaitForFunctionOptions { Timeout = 60_000 });
            var rows = await page.Locator("#versions tbody tr").AllInnerTextsAsync();
            Assert.Equal(2, rows.Count);
            Assert.Contains("canary", rows[0]);
            Assert.Contains("champion", rows[1]);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = TestArtifacts.Screenshot("playground-dashboard.png"), FullPage = true });
        }
        catch (Exception error) when (error is TimeoutException or PlaywrightException)
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = TestArtifacts.Screenshot("playground-failure.png"), FullPage = true });
            throw new TimeoutException($"{error.Message}\nbrowser console:\n{string.Join("\n", console)}", error);
        }
    }

    /// <summary>Does what the learner's release path does: v1 stored, registered and promoted, v2 on canary; waits until generation serves both.</summary>
    async Task ServeChampionAndCanaryAsync(IServiceProvider services, string url)
    {
        var registry = services.GetRequiredService<IModelRegistry>();
        var blobs = services.GetRequiredService<IBlobStore>();
        var bus = services.GetRequiredService<IBus>();
        foreach (var (version, policy) in new[] { (1L, champion), (2L, canary) })
        {
            var blob = await blobs.PutAsync($"policy/{version}", policy.WeightsBytes(), PolicyLoader.WeightsFormat, Cancel);
            await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, version - 1, blob, new Dictionary<string, double>(),
                DateTimeOffset.UtcNow), Cancel);
        }

        await registry.PromoteAsync(ModelKind.Policy, 1, Cancel);
        await bus.Publish(new PolicyUpdated(1, 0, (await registry.GetAsync(ModelKind.Policy, 1, Cancel))!.Blob, Metrics, IsRollback: false,
            DateTimeOffset.UtcNow), Cancel);
        await WaitForStatusAsync(url, s => s["champion"]?["version"]?.GetValue<long>() == 1);
        Assert.True(await registry.StartCanaryAsync(ModelKind.Policy, 2, Cancel));
        await bus.Publish(new CanaryStarted(2, 1, MinFeedback: 10, DateTimeOffset.UtcNow), Cancel);
        await WaitForStatusAsync(url, s => s["canary"]?["version"]?.GetValue<long>() == 2);
    }

    static async Task WaitForStatusAsync(string url, Func<JsonObject, bool> done)
    {
        using var http = new HttpClient { BaseAddress = new Uri(url) };
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        while (true)
        {
            var status = await http.GetFromJsonAsync<JsonObject>("/v1/generation/status", limit.Token);
            if (status is not null && done(status))
                return;
            await Task.Delay(100, limit.Token);
        }
    }

    static async Task<(string Champion, string Canary)> UsePlaygroundAsync(IPage page, string url)
    {
        await page.GotoAsync($"{url}/dashboard/playground");
        Assert.EndsWith("/dashboard/login", page.Url);
        await page.FillAsync("#key", OperatorKey);
        await page.ClickAsync("#sign-in");
        await page.WaitForURLAsync("**/dashboard");
        await page.ClickAsync("text=playground");
        await page.WaitForURLAsync("**/dashboard/playground");
        await page.WaitForSelectorAsync("#served:has-text('canary v2')");

        await page.FillAsync("#prompt", "What is 3 + 4?");
        await page.SelectOptionAsync("#n", "2");
        await page.FillAsync("#max-tokens", "12");
        await page.ClickAsync("#ask");
        var championSide = page.Locator(".side[data-side='champion']");
        var canarySide = page.Locator(".side[data-side='canary']");
        await championSide.Locator(".answer >> nth=1").WaitForAsync();
        await canarySide.Locator(".answer >> nth=1").WaitForAsync();
        Assert.Contains("policy-v1", await championSide.Locator("h2").InnerTextAsync());
        Assert.Contains("policy-v2", await canarySide.Locator("h2").InnerTextAsync());

        // Rank the champion's second answer first; thumb the canary's first answer up.
        await championSide.Locator(".answer >> nth=0 >> select.rank").SelectOptionAsync("2");
        await championSide.Locator(".answer >> nth=1 >> select.rank").SelectOptionAsync("1");
        await championSide.Locator(".submit-ranking").ClickAsync();
        await championSide.Locator(".ranking-result.live").WaitForAsync();
        Assert.Contains("accepted", await championSide.Locator(".ranking-result").InnerTextAsync());
        await canarySide.Locator(".answer >> nth=0 >> button.thumb[data-value='1']").ClickAsync();
        await canarySide.Locator(".answer >> nth=0 >> .result.live").WaitForAsync();

        // The same rater judging the ranked group again: the feedback API refuses, and the page says why.
        await championSide.Locator(".answer >> nth=0 >> button.thumb[data-value='0']").ClickAsync();
        await championSide.Locator(".answer >> nth=0 >> .result.down").WaitForAsync();
        Assert.Contains("409", await championSide.Locator(".answer >> nth=0 >> .result").InnerTextAsync());

        return (await championSide.GetAttributeAsync("data-group") ?? "", await canarySide.GetAttributeAsync("data-group") ?? "");
    }

    static async Task<IReadOnlyList<FeedbackJournalEntry>> WaitForJournalAsync(IFeedbackJournal journal, int count)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        while (true)
        {
            if (await journal.LengthAsync(limit.Token) >= count)
                return await journal.ReadAsync(1, 100, limit.Token);
            await Task.Delay(100, limit.Token);
        }
    }
}
