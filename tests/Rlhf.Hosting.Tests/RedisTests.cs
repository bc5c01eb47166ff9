using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.Hosting.Tests;

public sealed class RedisTests
{
    [Fact]
    public async Task Value_round_trips_through_the_configured_connection()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Redis:Configuration"] = TestInfrastructure.Redis });
        builder.AddServiceDefaults();
        using var host = builder.Build();
        var redis = host.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var key = $"rlhf-test:{Guid.NewGuid():N}";

        await redis.StringSetAsync(key, "round-trip", TimeSpan.FromMinutes(1));
        var value = await redis.StringGetAsync(key);
        await redis.KeyDeleteAsync(key);

        Assert.Equal("round-trip", value.ToString());
    }

    [Fact]
    public void Host_without_redis_configuration_registers_no_connection()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.AddServiceDefaults();
        using var host = builder.Build();

        Assert.Null(host.Services.GetService<IConnectionMultiplexer>());
    }
}
