using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.Storage.Tests;

/// <summary>
/// A connection to the real Redis and a key prefix of its own for one test class; every key under the prefix is
/// deleted when the class is done.
/// </summary>
public sealed class RedisTestConnection : IAsyncLifetime
{
    public IConnectionMultiplexer Redis { get; private set; } = null!;

    public string KeyPrefix { get; } = $"rlhf-test:storage:{Guid.NewGuid():N}:";

    public IDatabase Database => Redis.GetDatabase();

    public async ValueTask InitializeAsync() => Redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);

    public async ValueTask DisposeAsync()
    {
        foreach (var server in Redis.GetServers())
        {
            var keys = new List<RedisKey>();
            await foreach (var key in server.KeysAsync(pattern: KeyPrefix + "*"))
                keys.Add(key);
            if (keys.Count > 0)
                await Redis.GetDatabase().KeyDeleteAsync(keys.ToArray());
        }

        await Redis.DisposeAsync();
    }
}
