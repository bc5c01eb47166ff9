using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using StackExchange.Redis;

namespace Rlhf.Testing;

/// <summary>
/// Removes what a test left on the shared RabbitMQ and Redis: the durable queues and exchanges of the reward's and the
/// learner's shared endpoints under a queue prefix (<c>Reward:QueuePrefix</c>, <c>Learner:QueuePrefix</c>), and keys.
/// </summary>
public static class BrokerLeftovers
{
    /// <summary>Every shared (prefixed) endpoint of the reward service and the learner.</summary>
    static readonly string[] SharedEndpoints =
        ["rollout-scored", "demonstrations", "policy-rollback", "canary-concluded", "canary-ratings", "canary-rating-batches", "canary-rankings", "rollout-generated",
         "ranking-submitted", "rating-submitted", "ratings-submitted", "regeneration-submitted", "reward-edits", "comment-submitted",
         "user-data-deleted"];

    public static async Task DeleteQueuesAsync(string queuePrefix)
    {
        var factory = new ConnectionFactory { Uri = TestInfrastructure.RabbitMq };
        await using var connection = await factory.CreateConnectionAsync();
        foreach (var endpoint in SharedEndpoints)
        {
            foreach (var name in new[] { $"{queuePrefix}-{endpoint}", $"{queuePrefix}-{endpoint}_error", $"{queuePrefix}-{endpoint}_skipped" })
            {
                // A missing queue or exchange closes the channel, so each deletion gets its own.
                await IgnoringMissingAsync(connection, channel => channel.QueueDeleteAsync(name));
                await IgnoringMissingAsync(connection, channel => channel.ExchangeDeleteAsync(name));
            }
        }
    }

    /// <summary>Deletes the named queues (and exchanges of the same name), e.g. a replica's own per-instance queue.</summary>
    public static async Task DeleteNamedQueuesAsync(params string[] names)
    {
        var factory = new ConnectionFactory { Uri = TestInfrastructure.RabbitMq };
        await using var connection = await factory.CreateConnectionAsync();
        foreach (var name in names)
        {
            await IgnoringMissingAsync(connection, channel => channel.QueueDeleteAsync(name));
            await IgnoringMissingAsync(connection, channel => channel.ExchangeDeleteAsync(name));
        }
    }

    public static async Task DeleteKeysAsync(string prefix)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);
        var database = redis.GetDatabase();
        foreach (var server in redis.GetServers())
        {
            await foreach (var key in server.KeysAsync(pattern: prefix + "*"))
                await database.KeyDeleteAsync(key);
        }
    }

    static async Task IgnoringMissingAsync(IConnection connection, Func<IChannel, Task> delete)
    {
        try
        {
            await using var channel = await connection.CreateChannelAsync();
            await delete(channel);
        }
        catch (OperationInterruptedException)
        {
        }
    }
}
