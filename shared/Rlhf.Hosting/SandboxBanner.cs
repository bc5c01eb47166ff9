using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rlhf.Storage;

namespace Rlhf.Hosting;

/// <summary>Says loudly, before the bus starts, that this host is a replay sandbox and where its state goes.</summary>
sealed class SandboxBanner(IOptions<ReplayOptions> replay, IOptions<BusOptions> bus, IOptions<RedisOptions> redis, ILogger<SandboxBanner> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var vhost = bus.Value.Transport == BusTransport.RabbitMq ? bus.Value.RabbitMq.DisplayAddress : "the in-memory bus";
        logger.LogWarning(
            "REPLAY SANDBOX: this host consumes replayed events on {Bus}; Redis keys (rollouts, registry, blobs) go under {KeyPrefix}, " +
            "weight files under the '{BlobSubdirectory}' subfolder of Storage:BlobDirectory; production state is not touched",
            vhost, replay.Value.KeyPrefixFor(redis.Value), ReplayOptions.BlobSubdirectory);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
