using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Feedback.Apis;
using Rlhf.Hosting.Telemetry;

namespace Rlhf.Feedback.Publishing;

/// <summary>
/// Group commit for ratings, the most numerous feedback: a rating waits while the previous publish is in flight, and
/// every rating that arrived meanwhile (up to <see cref="FeedbackOptions.RatingBatchLimit"/>) goes out as one
/// <see cref="RatingsSubmitted"/>: one mandatory publish, one confirm, one message per consumer queue instead of one per
/// rating. When nothing is in flight a rating is published at once, so at low load nothing waits; under load the
/// batches grow with the broker's confirm latency. Each waiter gets the outcome of the publish that carried it (a
/// returned or failed batch fails every rating in it, so each request answers 503 and releases what it claimed).
/// A waiter that gives up (its deadline or its client gone) before its rating was taken is left out of every batch,
/// so a rating answered 503 is never published later.
/// </summary>
public sealed class RatingGroupCommit : IAsyncDisposable
{
    readonly Channel<Pending> pending = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    readonly AsyncServiceScope scope;
    readonly IPublishEndpoint publisher;
    readonly int limit;
    readonly TimeSpan timeout;
    readonly Task loop;
    readonly Histogram<int> batchSize;
    readonly Histogram<double> batchSeconds;
    long batches;
    long ratings;
    int waiting;

    public RatingGroupCommit(IServiceScopeFactory scopes, IOptions<FeedbackOptions> options, IMeterFactory meters)
    {
        var meter = meters.Create(FeedbackMetricsFilter.MeterName);
        batchSize = meter.CreateHistogram<int>("rlhf.feedback.rating_batch.size", "{rating}",
            "Ratings per group-commit publish (RatingsSubmitted) the broker confirmed",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000] });
        batchSeconds = meter.CreateHistogram<double>("rlhf.feedback.rating_batch.duration", "s",
            "Time from a group-commit publish to the broker's confirm", advice: new InstrumentAdvice<double>
            {
                HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1, 2, 5],
            });
        // The publish endpoint is scoped (a test or a filter may replace it); one scope serves this singleton's lifetime.
        scope = scopes.CreateAsyncScope();
        publisher = scope.ServiceProvider.GetRequiredService<IPublishEndpoint>();
        limit = Math.Max(1, options.Value.RatingBatchLimit);
        timeout = options.Value.PublishTimeout;
        // Created on the first rating request: without suppressing the flow, the loop would keep that request's span
        // (Activity.Current) and log scope as its own, and every batch span would be a child of that one trace.
        using (ExecutionContext.SuppressFlow())
            loop = Task.Run(RunAsync);
    }

    /// <summary>Batches published so far and the ratings they carried.</summary>
    public (long Batches, long Ratings) Published => (Interlocked.Read(ref batches), Interlocked.Read(ref ratings));

    /// <summary>Ratings waiting for the publish in flight to end (not yet taken into a batch).</summary>
    public int Waiting => Volatile.Read(ref waiting);

    /// <summary>
    /// Completes when the broker confirmed the batch that carried <paramref name="rating"/>; throws what the publish threw,
    /// a <see cref="TimeoutException"/> after <paramref name="wait"/>, or an <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public async Task PublishAsync(RatingSubmitted rating, Guid? correlationId, TimeSpan wait, CancellationToken cancellationToken)
    {
        var item = new Pending(new CarriedRating(rating, correlationId), Activity.Current?.Context ?? default);
        Interlocked.Increment(ref waiting);
        if (!pending.Writer.TryWrite(item))
        {
            Interlocked.Decrement(ref waiting);
            throw new InvalidOperationException("The feedback service is stopping; the rating was not published.");
        }

        try
        {
            await item.Done.Task.WaitAsync(wait, cancellationToken);
        }
        catch (Exception error) when (error is TimeoutException or OperationCanceledException)
        {
            // Not taken yet: it never will be. Taken: its publish is in flight and its outcome unknown, as with any
            // publish that outlives its deadline (the 503 says to retry with the same request; consumers dedupe by id).
            item.Abandon();
            throw;
        }
    }

    async Task RunAsync()
    {
        var batch = new List<Pending>(limit);
        while (await pending.Reader.WaitToReadAsync())
        {
            while (batch.Count < limit && pending.Reader.TryRead(out var item))
            {
                Interlocked.Decrement(ref waiting);
                if (item.Take())
                    batch.Add(item);
            }

            if (batch.Count > 0)
                await PublishAsync(batch);
            batch.Clear();
        }
    }

    async Task PublishAsync(List<Pending> batch)
    {
        var started = Stopwatch.GetTimestamp();
        // The publish's span links every request it carries, so each request's trace can be followed into it.
        using var span = RlhfTelemetry.StartBatch("feedback publish ratings", batch.Select(p => p.Trace));
        span?.SetTag("rlhf.ratings", batch.Count);
        try
        {
            var message = new RatingsSubmitted([.. batch.Select(p => p.Rating)]);
            using var deadline = new CancellationTokenSource(timeout);
            // Mandatory, like every feedback publish: with no queue bound the broker returns it and every request gets 503.
            await publisher.Publish(message, context =>
                {
                    context.MessageId = Guid.CreateVersion7();
                    context.CorrelationId = batch.Count == 1 ? batch[0].Rating.CorrelationId : null;
                    context.Mandatory = true;
                }, deadline.Token)
                .WaitAsync(timeout);
            Interlocked.Increment(ref batches);
            Interlocked.Add(ref ratings, batch.Count);
            batchSize.Record(batch.Count);
            batchSeconds.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
            foreach (var item in batch)
                item.Done.TrySetResult();
        }
        catch (Exception error)
        {
            foreach (var item in batch)
                item.Done.TrySetException(error);
        }
    }

    public async ValueTask DisposeAsync()
    {
        pending.Writer.TryComplete();
        await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await scope.DisposeAsync();
    }

    sealed class Pending(CarriedRating rating, ActivityContext trace)
    {
        const int Waiting = 0, Taken = 1, Abandoned = 2;
        int state;

        public CarriedRating Rating { get; } = rating;

        /// <summary>The span of the request that submitted the rating.</summary>
        public ActivityContext Trace { get; } = trace;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>True when the rating goes into a batch (its waiter has not given up).</summary>
        public bool Take() => Interlocked.CompareExchange(ref state, Taken, Waiting) == Waiting;

        public void Abandon() => Interlocked.CompareExchange(ref state, Abandoned, Waiting);
    }
}
