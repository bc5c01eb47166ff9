using Rlhf.Learner.Admin;
using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Cli.Operations;

/// <summary>
/// What the <c>rlhf policy</c> commands share when they reach Redis and RabbitMQ themselves (the read-only commands,
/// and the changing ones with <c>--direct</c>): connecting to Redis and the exit codes of <see cref="PolicyAction"/>.
/// </summary>
static class PolicyOperation
{
    public const int Done = PolicyAction.Done;
    public const int Refused = PolicyAction.Refused;
    public const int FailedPartway = PolicyAction.FailedPartway;

    public const string NothingChanged = PolicyAction.NothingChanged;

    /// <summary>Connects to the deployment's Redis, or writes why not and returns null.</summary>
    /// <param name="changes">True for commands that change something: the message then says that nothing was.</param>
    public static async Task<ConnectionMultiplexer?> ConnectAsync(PolicyEndpoints endpoints, bool changes, TextWriter error)
    {
        try
        {
            return await endpoints.ConnectRedisAsync();
        }
        catch (RedisException e)
        {
            error.WriteLine($"error: cannot connect to Redis at {endpoints.Redis}: {e.Message}.{(changes ? " " + NothingChanged : "")}");
            return null;
        }
    }

    /// <summary>Runs a changing action on the deployment reached directly (its Redis, its RabbitMQ); 1 when Redis does not connect.</summary>
    public static async Task<int> RunDirectAsync(PolicyEndpoints endpoints, TextWriter error, Func<PolicyDeployment, Task<int>> action)
    {
        var redis = await ConnectAsync(endpoints, changes: true, error);
        if (redis is null)
            return Refused;
        await using (redis)
        {
            var deployment = new PolicyDeployment(new RedisModelRegistry(redis, endpoints.KeyPrefix), endpoints.BlobStore(redis), LiveFeedback(redis, endpoints),
                endpoints.KeyPrefix, $"RabbitMQ {endpoints.RabbitMqDisplay}", endpoints.PublishAsync);
            return await action(deployment);
        }
    }

    /// <summary>The error line for a registry that cannot be read.</summary>
    public static string UnreadableRegistry(PolicyEndpoints endpoints, RedisException e, bool changes) =>
        PolicyAction.UnreadableRegistry(endpoints.KeyPrefix, e, changes);

    /// <summary>The live-feedback store the learner counts a canary's judgements in (reads only: the TTL is not used).</summary>
    public static ILiveFeedbackStore LiveFeedback(IConnectionMultiplexer redis, PolicyEndpoints endpoints) =>
        new RedisLiveFeedbackStore(redis, endpoints.KeyPrefix, new StorageOptions().LiveFeedbackTtl);
}
