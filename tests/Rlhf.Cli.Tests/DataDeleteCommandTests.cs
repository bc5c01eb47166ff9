using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Cli.Data;
using Rlhf.Cli.Embedded;
using Rlhf.Contracts;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Cli.Tests;

/// <summary><c>rlhf data delete</c> against a real feedback host: the report as a table, the JSON answer, and a refused key as one error line.</summary>
public sealed class DataDeleteCommandTests : IAsyncLifetime
{
    const string AdminKey = "cli-delete-admin-key-9a1e";
    readonly string directory = Path.Combine(Path.GetTempPath(), $"rlhf-cli-delete-{Guid.NewGuid():N}");
    Microsoft.AspNetCore.Builder.WebApplication app = null!;
    string url = null!;

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(directory);
        app = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, new Dictionary<string, string?>
        {
            ["Operators:AllowAnonymous"] = "false",
            ["Operators:AdminKeys:cli-admin"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(AdminKey))),
        }, "cli-delete-api-key", events: null, PlatformServices.Feedback);
        await app.StartAsync(Cancel);
        url = app.Urls.First(); // port 0: the port the host bound, so no other process can take it first
    }

    public async ValueTask DisposeAsync()
    {
        await app.DisposeAsync();
        TestDirectory.Delete(directory);
    }

    async Task SeedAsync(string userId, int n)
    {
        var group = $"chatcmpl-{Guid.NewGuid():N}";
        await app.Services.GetRequiredService<IRolloutStore>().SaveGroupAsync([.. Enumerable.Range(0, n).Select(i => new RolloutGenerated(Guid.NewGuid(), group, i, n, 0,
            "p", [1], "r", [2], [-0.1f], "stop", new SamplingParameters(1, 1, 0, 8, null, []), null, userId, DateTimeOffset.UtcNow))], Cancel);
    }

    [Fact]
    public async Task Delete_prints_one_row_per_store_and_a_second_run_prints_zeros()
    {
        await SeedAsync("erin", 3);
        var (first, second, error) = (new StringWriter(), new StringWriter(), new StringWriter());

        Assert.Equal(0, await DataCommand.DeleteAsync(new Uri(url), "erin", AdminKey, json: false, first, error, Cancel));
        Assert.Equal(0, await DataCommand.DeleteAsync(new Uri(url), "erin", AdminKey, json: false, second, error, Cancel));

        var rows = first.ToString().Split('\n').Select(l => l.Trim()).ToList();
        Assert.StartsWith("deleted the data of user 'erin'", rows[0]);
        Assert.Contains(rows, r => r.StartsWith("rollouts") && r.Contains(" 3 ") && r.EndsWith("deleted"));
        Assert.Contains(rows, r => r.StartsWith("dashboard_recent_events") && r.Contains(" - ") && r.EndsWith("notified"));
        Assert.Contains(second.ToString().Split('\n').Select(l => l.Trim()), r => r.StartsWith("rollouts") && r.Contains(" 0 "));
        Assert.Equal("", error.ToString());
    }

    [Fact]
    public async Task Json_prints_the_services_answer()
    {
        await SeedAsync("frank", 2);
        var output = new StringWriter();

        Assert.Equal(0, await DataCommand.DeleteAsync(new Uri(url), "frank", AdminKey, json: true, output, new StringWriter(), Cancel));

        using var report = System.Text.Json.JsonDocument.Parse(output.ToString());
        Assert.Equal("frank", report.RootElement.GetProperty("user_id").GetString());
        Assert.Equal(2, report.RootElement.GetProperty("stores")[0].GetProperty("removed").GetInt64());
    }

    [Fact]
    public async Task A_missing_or_wrong_key_is_exit_code_1_with_the_status()
    {
        var error = new StringWriter();

        Assert.Equal(1, await DataCommand.DeleteAsync(new Uri(url), "erin", null, json: false, new StringWriter(), error, Cancel));
        Assert.Equal(1, await DataCommand.DeleteAsync(new Uri(url), "erin", "wrong", json: false, new StringWriter(), error, Cancel));

        var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.StartsWith("error: 401", l));
    }
}
