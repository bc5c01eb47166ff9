using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client.Exceptions;
using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Archive;

/// <summary>
/// Indexes the archive stream continuously (see <see cref="ArchiveIndex"/>): resumes at the offset stored in Redis,
/// writes batches as events arrive, trims what retention removed. A broker or Redis outage is logged and retried every
/// <see cref="RetryDelay"/>; several dashboards may run it at once (writes are idempotent, the pointer only moves forward).
/// Registered with <see cref="EventArchiveHostingExtensions.AddArchiveIndexService"/>.
/// </summary>
sealed class ArchiveIndexService(
    IConnectionMultiplexer redis,
    IOptions<RedisOptions> redisOptions,
    ArchiveBroker broker,
    IOptions<EventArchiveOptions> archive,
    IOptions<ReplayOptions> replay,
    ILogger<ArchiveIndexService> logger) : BackgroundService
{
    public static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // A replay sandbox indexes its own vhost's archive under its own prefix, never into the production index.
        var index = new ArchiveIndex(redis, replay.Value.KeyPrefixFor(redisOptions.Value), archive.Value.QueueName);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var factory = broker.Connect("rlhf-archive-index");
                await using var connection = await factory.CreateConnectionAsync(stoppingToken);
                var state = await index.StateAsync();
                logger.LogInformation("Indexing archive {Queue} into {Prefix} from offset {Offset}", index.Queue, index.Prefix,
                    state.NextOffset?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "first");
                await index.RunAsync(connection, stopWhenIdle: null, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (InvalidOperationException error)
            {
                logger.LogError(error, "Archive index stopped");
                return;
            }
            catch (Exception error) when (error is BrokerUnreachableException or OperationInterruptedException or AlreadyClosedException
                                              or IOException or TimeoutException or RedisException)
            {
                logger.LogWarning("Archive index paused ({Error}); retrying in {Delay}s", error.Message, RetryDelay.TotalSeconds);
            }

            try
            {
                await Task.Delay(RetryDelay, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
