using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Dashboard.Tests;

/// <summary>The versions JSON behind the charts and the version table.</summary>
public sealed class VersionsViewTests
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_metric_that_is_not_finite_is_left_out_instead_of_failing_the_page()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web => web.UseSetting("Bus:Transport", "InMemory"));
        using var client = factory.CreateClient();
        var registry = factory.Services.GetRequiredService<IModelRegistry>();
        // A reward model trained before any held-out pair exists has no held-out accuracy (NaN), as an older service registered it.
        await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Reward, 1, 0, new BlobReference("memory://blob/reward/1/ab", "ab", 2, "safetensors"),
            new Dictionary<string, double> { ["held_out_pairwise_accuracy"] = double.NaN, ["training_loss"] = 0.69 }, DateTimeOffset.UtcNow), Cancel);

        using var response = await client.GetAsync("/v1/dashboard/versions", Cancel);

        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}");
        var metrics = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement
            .GetProperty("reward_models")[0].GetProperty("metrics");
        Assert.Equal(0.69, metrics.GetProperty("training_loss").GetDouble());
        Assert.False(metrics.TryGetProperty("held_out_pairwise_accuracy", out _));
    }
}
