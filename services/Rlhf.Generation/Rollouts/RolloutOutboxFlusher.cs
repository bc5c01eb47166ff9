using MassTransit;
using Microsoft.Extensions.Options;

namespace Rlhf.Generation.Rollouts;

/// <summary>
/// Publishes the <see cref="RolloutOutbox"/> one event at a time, oldest first, each attempt bounded by
/// <see cref="GenerationOptions.PublishTimeoutMs"/>. A failed attempt (broker down, no confirm in time) is retried
/// after <see cref="GenerationOptions.OutboxRetryDelayMs"/> with the same event, so the order holds; an attempt that
/// reached the broker although it timed out here is published again with the same message id, which consumers
/// deduplicate. At shutdown it keeps publishing until the broker fails once or the host's stop timeout ends.
/// </summary>
public sealed class RolloutOutboxFlusher(
    RolloutOutbox outbox,
    IRolloutOutboxLog log,
    RolloutOutboxRecovery recovery,
    [FromKeyedServices(RolloutOutbox.PublisherKey)] IPublishEndpoint publisher,
    GenerationStats stats,
    IOptions<GenerationOptions> options,
    ILogger<RolloutOutboxFlusher> logger) : BackgroundService
{
    readonly TimeSpan publishTimeout = TimeSpan.FromMilliseconds(options.Value.PublishTimeoutMs);
    readonly TimeSpan retryDelay = TimeSpan.FromMilliseconds(options.Value.OutboxRetryDelayMs);
    bool failing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await RecoverAsync(stoppingToken);
            while (true)
            {
                if (outbox.Peek() is not { } head)
                    await outbox.WaitForEventsAsync(stoppingToken);
                else if (!await TryPublishAsync(head, stoppingToken))
                    await Task.Delay(retryDelay, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Queues what an earlier process left in the log; retried until the log can be read (or the host stops).</summary>
    async Task RecoverAsync(CancellationToken stoppingToken)
    {
        while (true)
        {
            try
            {
                await recovery.RecoverAsync(stoppingToken);
                return;
            }
            catch (Exception error) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(error, "Could not read the outbox log to recover unpublished RolloutGenerated events; retrying in {RetryDelay}", retryDelay);
                await Task.Delay(retryDelay, stoppingToken);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            while (outbox.Peek() is { } head && await TryPublishAsync(head, cancellationToken))
            {
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        if (outbox.Depth > 0)
            logger.LogError("Stopping with {Depth} RolloutGenerated events the broker did not take; they stay in the outbox log " +
                "and the next start publishes them", outbox.Depth);
    }

    /// <summary>The broker took it: drop it from the log. A failure here only means a restart publishes it again (deduplicated).</summary>
    async Task ForgetAsync(Guid messageId)
    {
        try
        {
            await log.RemoveAsync([messageId], CancellationToken.None);
        }
        catch (Exception error)
        {
            logger.LogWarning(error, "Could not remove message {MessageId} from the outbox log; a restart publishes it again and consumers drop the duplicate", messageId);
        }
    }

    async Task<bool> TryPublishAsync(LinkedListNode<PendingRollout> head, CancellationToken cancellationToken)
    {
        var entry = head.Value;
        // Published from this background loop, so the chat request's span is named as the parent: the trace continues.
        using var span = Rlhf.Hosting.Telemetry.RlhfTelemetry.Source.StartActivity("outbox RolloutGenerated", System.Diagnostics.ActivityKind.Internal, entry.Trace);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(publishTimeout);
            // WaitAsync bounds the wait even if the transport ignores the token while it reconnects.
            await publisher.Publish(entry.Rollout, context =>
                {
                    context.MessageId = entry.MessageId;
                    context.CorrelationId = entry.CorrelationId;
                }, deadline.Token)
                .WaitAsync(publishTimeout, cancellationToken);
        }
        catch (Exception error) when (!cancellationToken.IsCancellationRequested)
        {
            stats.PublishFailed(1);
            if (!failing)
                logger.LogWarning(error, "The broker did not take RolloutGenerated {RolloutId}; {Depth} events wait in the outbox, retrying every {RetryDelay}",
                    entry.Rollout.RolloutId, outbox.Depth, retryDelay);
            failing = true;
            return false;
        }

        outbox.Delivered(head);
        await ForgetAsync(entry.MessageId);
        if (failing)
            logger.LogInformation("The broker takes RolloutGenerated events again; {Depth} still wait in the outbox", outbox.Depth);
        failing = false;
        return true;
    }
}
