using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Dashboard.Tests;

/// <summary>
/// Headless Chromium (Debian's <c>chromium</c>, driven by Playwright) on the dashboard service: the operator signs in,
/// the charts draw the registry's versions, and an event published on the bus reaches the page over server-sent events.
/// Screenshots go to <c>TestResults/screenshots/</c>.
/// </summary>
public sealed class DashboardBrowserTests
{
    const string OperatorKey = "test-operator-key";
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static async Task SeedRegistryAsync(IModelRegistry registry)
    {
        var at = DateTimeOffset.UtcNow;
        var blob = (string kind, long v) => new BlobReference($"memory://blob/{kind}/{v}/ab", "ab", 2, "safetensors");
        for (var version = 1; version <= 4; version++)
            await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, version - 1, blob("policy", version),
                new Dictionary<string, double>
                {
                    ["eval_task_accuracy"] = 0.2 + 0.1 * version,
                    ["mean_reward"] = -0.5 + 0.3 * version,
                    ["kl_to_reference"] = 0.01 * version,
                    ["value_loss"] = 0.5 / version,
                }, at.AddMinutes(version)), Cancel);
        await registry.PromoteAsync(ModelKind.Policy, 3, Cancel);
        await registry.StartCanaryAsync(ModelKind.Policy, 4, Cancel);
        await registry.RecordRejectedAsync(new RejectedVersionRecord(ModelKind.Policy, 5, 4, 3, "KL above bound",
            new Dictionary<string, double> { ["kl_to_reference"] = 0.9 }, at), Cancel);
        for (var version = 1; version <= 3; version++)
            await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Reward, version, version - 1, blob("reward", version),
                new Dictionary<string, double> { ["held_out_pairwise_accuracy"] = 0.6 + 0.1 * version }, at), Cancel);
        await registry.PromoteAsync(ModelKind.Reward, 3, Cancel);
    }


    [Fact]
    public async Task Operator_signs_in_sees_charts_and_live_events()
    {
        await using var service = await ServiceOnPort.StartAsync(new Dictionary<string, string?>
        {
            ["Log:Console"] = "false",
            ["Dashboard:OperatorKey"] = OperatorKey,
        }, Cancel);
        await SeedRegistryAsync(service.App.Services.GetRequiredService<IModelRegistry>());

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ExternalTool.Find("chromium", "chromium"),
            Headless = true,
            Args = ["--no-sandbox"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var console = new List<string>();
        page.Console += (_, message) => console.Add($"{message.Type}: {message.Text}");
        page.PageError += (_, error) => console.Add($"page error: {error}");
        try
        {
            await UseDashboardAsync(service, page);
        }
        catch (Exception error) when (error is TimeoutException or PlaywrightException)
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = TestArtifacts.Screenshot("dashboard-failure.png"), FullPage = true });
            throw new TimeoutException($"{error.Message}\nbrowser console:\n{string.Join("\n", console)}", error);
        }
    }

    static async Task UseDashboardAsync(ServiceOnPort service, IPage page)
    {

        var unauthorized = await page.APIRequest.GetAsync(new Uri(service.Address, "/v1/dashboard/versions").ToString());
        Assert.Equal(401, unauthorized.Status);

        await page.GotoAsync(new Uri(service.Address, "/dashboard").ToString());
        Assert.EndsWith("/dashboard/login", page.Url);
        await page.FillAsync("#key", "wrong key");
        await page.ClickAsync("#sign-in");
        await page.WaitForSelectorAsync("#failed:not([hidden])");
        await page.FillAsync("#key", OperatorKey);
        await page.ClickAsync("#sign-in");
        await page.WaitForURLAsync("**/dashboard");

        // Charts: versions 1-4 (the rejected 5 is left out of the lines), three reward models.
        await page.WaitForSelectorAsync("#chart-eval[data-points='4']");
        await page.WaitForSelectorAsync("#chart-rm[data-points='3']");
        Assert.Equal(4, await page.Locator("#chart-kl circle").CountAsync());
        await page.WaitForSelectorAsync("#live.live");
        var rows = await page.Locator("#versions tbody tr").AllInnerTextsAsync();
        Assert.Equal(5, rows.Count);
        Assert.Contains("rejected", rows[0]);
        Assert.Contains("KL above bound", rows[0]);
        Assert.Contains("canary", rows[1]);
        Assert.Contains("champion", rows[2]);

        // Live: an event published now reaches the table over SSE, and the search finds it.
        var publisher = service.App.Services.GetRequiredService<IPublishEndpoint>();
        var group = "browser-" + Guid.NewGuid().ToString("N")[..8];
        for (var i = 0; i < 3; i++)
            await publisher.Publish(new RolloutScored(Guid.NewGuid(), group, 2, 3, 0.5f + i, DateTimeOffset.UtcNow), Cancel);
        await page.FillAsync("#search", group);
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#rows tr').length === 3");
        await page.WaitForSelectorAsync("#chart-throughput:not([data-points='0'])");
        await page.FillAsync("#search", "");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = TestArtifacts.Screenshot("dashboard.png"), FullPage = true });

        Assert.Equal("RolloutScored", await page.Locator("#rows tr >> nth=0 >> td.type").InnerTextAsync());
    }
}
