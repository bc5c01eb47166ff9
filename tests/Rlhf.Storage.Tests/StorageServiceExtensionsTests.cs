using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rlhf.Hosting;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.Storage.Tests;

public sealed class StorageServiceExtensionsTests
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static HostApplicationBuilder Builder(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        return builder;
    }

    static IReadOnlyList<Type> StoreTypes(IServiceProvider services) =>
    [
        services.GetRequiredService<IRolloutStore>().GetType(),
        services.GetRequiredService<IClaimStore>().GetType(),
        services.GetRequiredService<IIdempotencyStore>().GetType(),
        services.GetRequiredService<IModelRegistry>().GetType(),
        services.GetRequiredService<IBlobStore>().GetType(),
    ];

    [Fact]
    public void Without_redis_every_store_is_in_memory()
    {
        var builder = Builder([]);
        builder.AddStorage();
        using var host = builder.Build();

        Assert.Equal(
            [typeof(InMemoryRolloutStore), typeof(InMemoryClaimStore), typeof(InMemoryIdempotencyStore), typeof(InMemoryModelRegistry), typeof(InMemoryBlobStore)],
            StoreTypes(host.Services));
    }

    [Fact]
    public async Task With_redis_configured_every_store_is_redis_under_the_key_prefix()
    {
        var prefix = $"rlhf-test:storage-di:{Guid.NewGuid():N}:";
        var builder = Builder(new() { ["Redis:Configuration"] = TestInfrastructure.Redis, ["Redis:KeyPrefix"] = prefix });
        builder.AddServiceDefaults();
        builder.AddStorage();
        using var host = builder.Build();

        Assert.Equal(
            [typeof(RedisRolloutStore), typeof(RedisClaimStore), typeof(RedisIdempotencyStore), typeof(RedisModelRegistry), typeof(RedisBlobStore)],
            StoreTypes(host.Services));
        await host.Services.GetRequiredService<IClaimStore>().TryClaimAsync("probe", "1", TimeSpan.FromSeconds(30), Cancel);
        var database = host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        Assert.Equal("1", (string?)await database.StringGetAsync($"{prefix}claim:probe"));
        await database.KeyDeleteAsync($"{prefix}claim:probe");
    }

    [Fact]
    public void Kind_in_memory_wins_over_a_configured_redis()
    {
        var builder = Builder(new() { ["Redis:Configuration"] = TestInfrastructure.Redis, ["Storage:Kind"] = "InMemory" });
        builder.AddStorage();
        using var host = builder.Build();

        Assert.All(StoreTypes(host.Services), type => Assert.StartsWith("InMemory", type.Name));
    }

    [Fact]
    public void Blob_directory_selects_the_file_system_store()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"rlhf-blobs-{Guid.NewGuid():N}");
        var builder = Builder(new() { ["Storage:BlobDirectory"] = directory });
        builder.AddStorage();
        using var host = builder.Build();

        Assert.IsType<FileSystemBlobStore>(host.Services.GetRequiredService<IBlobStore>());
        Assert.IsType<InMemoryRolloutStore>(host.Services.GetRequiredService<IRolloutStore>());
    }

    [Fact]
    public void Ttls_and_chunk_size_come_from_configuration()
    {
        var builder = Builder(new()
        {
            ["Storage:RolloutTtl"] = "01:30:00",
            ["Storage:IdempotencyTtl"] = "00:10:00",
            ["Storage:BlobChunkBytes"] = "4096",
        });
        builder.AddStorage();
        using var host = builder.Build();

        var options = host.Services.GetRequiredService<IOptions<StorageOptions>>().Value;
        Assert.Equal(TimeSpan.FromMinutes(90), options.RolloutTtl);
        Assert.Equal(TimeSpan.FromMinutes(10), options.IdempotencyTtl);
        Assert.Equal(4096, options.BlobChunkBytes);
    }

    [Fact]
    public async Task Calling_it_again_registers_nothing_twice_and_keeps_earlier_stores()
    {
        var builder = Builder([]);
        var shared = new InMemoryModelRegistry();
        builder.Services.AddSingleton<IModelRegistry>(shared);

        builder.AddStorage();
        builder.AddStorage();
        builder.AddStorage();
        using var host = builder.Build();
        await host.StartAsync(Cancel);

        foreach (var type in new[] { typeof(IRolloutStore), typeof(IClaimStore), typeof(IIdempotencyStore), typeof(IModelRegistry), typeof(IBlobStore) })
            Assert.Single(builder.Services, d => d.ServiceType == type);
        Assert.Same(shared, host.Services.GetRequiredService<IModelRegistry>());
        Assert.Same(host.Services.GetRequiredService<IRolloutStore>(), host.Services.GetRequiredService<IRolloutStore>());
        await host.StopAsync(Cancel);
    }

    [Theory]
    [InlineData("Storage:Kind", "Redis", "Storage:Kind is Redis but Redis:Configuration is empty")]
    [InlineData("Storage:RolloutTtl", "-00:00:01", "Storage:RolloutTtl must be positive")]
    [InlineData("Storage:IdempotencyTtl", "00:00:00", "Storage:IdempotencyTtl must be positive")]
    [InlineData("Storage:BlobChunkBytes", "10", "BlobChunkBytes")]
    public async Task Invalid_options_stop_the_host_at_start_naming_the_key(string key, string value, string message)
    {
        var builder = Builder(new() { [key] = value });
        builder.AddStorage();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Cancel));

        Assert.Contains(message, error.Message);
    }
}
