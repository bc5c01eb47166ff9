using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.Storage.Tests;

/// <summary><c>Replay:Sandbox=true</c>: every store writes under the sandbox prefix, file blobs under the sandbox subfolder.</summary>
public sealed class SandboxStorageTests : IAsyncDisposable
{
    readonly string production = $"rlhf-test:sandbox-storage:{Guid.NewGuid():N}:";
    readonly string blobDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-sandbox-blobs-{Guid.NewGuid():N}");

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    IHost Build(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = TestInfrastructure.Redis,
            ["Redis:KeyPrefix"] = production,
            ["Replay:Sandbox"] = "true",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
        builder.AddStorage();
        return builder.Build();
    }

    [Fact]
    public async Task Sandbox_stores_write_under_the_default_sandbox_prefix_and_never_the_production_one()
    {
        using var host = Build([]);
        var services = host.Services;
        var registry = services.GetRequiredService<IModelRegistry>();
        var blob = await services.GetRequiredService<IBlobStore>().PutAsync("reward/1", new byte[] { 1, 2, 3 }, "safetensors", Cancel);
        await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Reward, 1, null, blob, new Dictionary<string, double>(), DateTimeOffset.UtcNow), Cancel);
        await registry.PromoteAsync(ModelKind.Reward, 1, Cancel);
        await services.GetRequiredService<IClaimStore>().TryClaimAsync("probe", "1", TimeSpan.FromSeconds(30), Cancel);

        var keys = await KeysAsync(services.GetRequiredService<IConnectionMultiplexer>());
        Assert.NotEmpty(keys);
        Assert.All(keys, key => Assert.StartsWith(production + "sandbox:", key));
        Assert.Contains($"{production}sandbox:claim:probe", keys);
    }

    [Fact]
    public async Task Sandbox_prefix_can_be_set_and_file_blobs_go_to_the_sandbox_subfolder()
    {
        var sandbox = production + "replay-7:";
        using var host = Build(new() { ["Replay:KeyPrefix"] = sandbox, ["Storage:BlobDirectory"] = blobDirectory });
        var services = host.Services;

        var blob = await services.GetRequiredService<IBlobStore>().PutAsync("reward/1", new byte[] { 1, 2, 3 }, "safetensors", Cancel);
        await services.GetRequiredService<IClaimStore>().TryClaimAsync("probe", "1", TimeSpan.FromSeconds(30), Cancel);

        Assert.StartsWith(Path.Combine(blobDirectory, ReplayOptions.BlobSubdirectory) + Path.DirectorySeparatorChar, new Uri(blob.Uri).LocalPath);
        Assert.Equal(["sandbox"], Directory.GetDirectories(blobDirectory).Select(Path.GetFileName));
        Assert.Equal([$"{sandbox}claim:probe"], await KeysAsync(services.GetRequiredService<IConnectionMultiplexer>()));
    }

    [Fact]
    public void A_sandbox_prefix_that_covers_the_production_keys_is_refused()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Build(new() { ["Replay:KeyPrefix"] = "rlhf-test:" }));

        Assert.Contains("Replay:KeyPrefix 'rlhf-test:'", error.Message);
        Assert.Contains(production, error.Message);
    }

    async Task<List<string>> KeysAsync(IConnectionMultiplexer redis)
    {
        var keys = new List<string>();
        foreach (var server in redis.GetServers())
            await foreach (var key in server.KeysAsync(pattern: production + "*"))
                keys.Add(key.ToString());
        return keys;
    }

    public async ValueTask DisposeAsync()
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);
        var keys = await KeysAsync(redis);
        if (keys.Count > 0)
            await redis.GetDatabase().KeyDeleteAsync([.. keys.Select(k => (RedisKey)k)]);
        if (Directory.Exists(blobDirectory))
            Directory.Delete(blobDirectory, recursive: true);
    }
}
