using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client.Exceptions;

namespace Rlhf.Archive;

/// <summary>
/// Declares the archive in <see cref="StartingAsync"/>, which runs before any hosted service starts (the bus included),
/// so nothing published by this host is missed. An unreachable broker does not stop the host: the declaration is retried
/// in the background. A queue of that name with other arguments does stop it, naming the queue.
/// </summary>
sealed class EventArchiveDeclaration(ArchiveBroker broker, IOptions<EventArchiveOptions> archive, ILogger<EventArchiveDeclaration> logger)
    : IHostedLifecycleService, IDisposable
{
    static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);
    readonly CancellationTokenSource stopping = new();
    Task? retry;

    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        if (await TryDeclareAsync(cancellationToken))
            return;
        retry = Task.Run(async () =>
        {
            while (!stopping.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(RetryDelay, stopping.Token);
                    if (await TryDeclareAsync(stopping.Token))
                        return;
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    return;
                }
                catch (InvalidOperationException error)
                {
                    logger.LogError(error, "Event archive not declared");
                    return;
                }
            }
        }, CancellationToken.None);
    }

    async Task<bool> TryDeclareAsync(CancellationToken cancellationToken)
    {
        var options = archive.Value;
        try
        {
            await EventArchive.DeclareAsync(broker, options, cancellationToken);
            logger.LogInformation("Event archive stream {Queue} bound to {Count} event exchanges (max age {MaxAge}, max {MaxLengthBytes} bytes)",
                options.QueueName, Contracts.EventTypes.Published.Count, options.MaxAge, options.MaxLengthBytes);
            return true;
        }
        catch (OperationInterruptedException error) when (error.ShutdownReason?.ReplyCode == 406)
        {
            throw new InvalidOperationException(
                $"Archive: queue '{options.QueueName}' exists with other arguments than x-queue-type=stream, x-max-age={options.MaxAge}, " +
                $"x-max-length-bytes={options.MaxLengthBytes} ({error.ShutdownReason.ReplyText}); delete it or change Archive:QueueName", error);
        }
        catch (Exception error) when (error is BrokerUnreachableException or OperationInterruptedException or IOException or TimeoutException
                                          or AlreadyClosedException)
        {
            logger.LogWarning("Event archive not declared yet, {Broker} unreachable ({Error}); retrying every {Delay}s",
                broker.DisplayAddress, error.Message, RetryDelay.TotalSeconds);
            return false;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync();
        if (retry is not null)
            await retry.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => stopping.Dispose();
}
