using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Dashboard.Tests;

/// <summary>The release panel's JSON, read from the (in-memory) registry and live-feedback store.</summary>
public sealed class ReleaseViewTests
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Release_shows_champion_canary_with_live_feedback_pause_and_latest_rejections()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web => web.UseSetting("Bus:Transport", "InMemory"));
        using var client = factory.CreateClient();
        var registry = factory.Services.GetRequiredService<IModelRegistry>();
        var feedback = factory.Services.GetRequiredService<ILiveFeedbackStore>();
        var at = new DateTimeOffset(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
        for (var version = 1; version <= 3; version++)
            await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, version - 1,
                new BlobReference($"memory://blob/policy/{version}/ab", "ab", 2, "safetensors"), new Dictionary<string, double>(), at), Cancel);
        await registry.PromoteAsync(ModelKind.Policy, 2, Cancel);
        await registry.StartCanaryAsync(ModelKind.Policy, 3, Cancel);
        await feedback.AddAsync(3, 3, Guid.NewGuid(), new LiveJudgement(1, Thumb: 1), Cancel);
        await feedback.AddAsync(3, 2, Guid.NewGuid(), new LiveJudgement(0, Thumb: 0), Cancel);
        await registry.RecordRejectedAsync(new RejectedVersionRecord(ModelKind.Policy, 1, 0, 0, "canary rolled back: worse", new Dictionary<string, double>(), at), Cancel);
        await registry.PausePromotionAsync(ModelKind.Policy, new PromotionPause("reward hacking suspected: rm +0.9, arithmetic -0.1", at), Cancel);

        var release = JsonDocument.Parse(await client.GetStringAsync("/v1/dashboard/release", Cancel)).RootElement;
        var page = await client.GetStringAsync("/dashboard", Cancel);

        Assert.Equal(2, release.GetProperty("champion_version").GetInt64());
        Assert.Equal(3, release.GetProperty("canary").GetProperty("version").GetInt64());
        Assert.Equal(1.0, release.GetProperty("canary").GetProperty("candidate").GetProperty("mean_score").GetDouble());
        Assert.Equal(0.0, release.GetProperty("canary").GetProperty("champion").GetProperty("thumbs_up_rate").GetDouble());
        Assert.StartsWith("reward hacking suspected", release.GetProperty("promotion_pause").GetProperty("reason").GetString());
        Assert.Equal("canary rolled back: worse", release.GetProperty("policy_rejections")[0].GetProperty("reason").GetString());
        Assert.Equal(0, release.GetProperty("reward_model_rejections").GetArrayLength());
        Assert.Contains("/v1/dashboard/release", page);
    }
}
