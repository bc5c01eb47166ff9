using System.Diagnostics;
using Microsoft.Extensions.Options;
using Rlhf.Generation.Policy;
using Rlhf.Modeling.Generation;

namespace Rlhf.Generation.Batching;

/// <summary>
/// Continuous (iteration-level) batching. Requests wait in a bounded <see cref="JobQueue"/>; a batch starts on the
/// version of the oldest waiting job, waits up to <see cref="GenerationOptions.BatchWindowMs"/> for company, and then
/// decodes token by token while jobs of its version join at every token boundary (the client with the fewest running
/// rows first) and finished rows leave at once, freeing their KV-cache slots for the next job. A batch runs one policy
/// version from start to end: while a job of another version waits, the batch takes no new jobs and ends when its
/// last row does, so canary and champion alternate and a hot swap lands between batches.
/// </summary>
public sealed class GenerationBatcher(
    PolicyHolder holder,
    GenerationStats stats,
    IOptions<GenerationOptions> options,
    ILogger<GenerationBatcher> logger,
    IEnumerable<IDecodeStepListener>? listeners = null,
    GenerationLatency? latency = null) : BackgroundService
{
    readonly IDecodeStepListener[] listeners = listeners?.ToArray() ?? [];
    readonly GenerationOptions options = options.Value;
    readonly JobQueue queue = new(options.Value.MaxQueueLength);
    ContinuousDecoder? decoder;
    volatile int runningRows;

    /// <summary>Requests waiting for a slot.</summary>
    public int QueueLength => queue.Count;

    /// <summary>Decode rows running now (a request with n candidates runs n).</summary>
    public int RunningRows => runningRows;

    /// <summary>False when the queue is full (the caller answers 429).</summary>
    public bool TryEnqueue(GenerationJob job)
    {
        if (job.Candidates > options.MaxBatchSize)
            throw new ArgumentException($"A job of {job.Candidates} candidates cannot fit a batch of {options.MaxBatchSize} rows.", nameof(job));
        return queue.TryAdd(job);
    }

    // Decoding is synchronous LibTorch work: the loop owns a thread of its own.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => Run(stoppingToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    void Run(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var added = queue.NextAdded;
                if (queue.Oldest() is not { } first)
                {
                    added.Wait(stoppingToken);
                    continue;
                }

                RunBatch(first, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            var stopping = new OperationCanceledException("The generation service is stopping.");
            foreach (var job in queue.Close())
                job.Fail(stopping);
            decoder?.Dispose();
        }
    }

    /// <summary>One continuous batch on the policy that serves <paramref name="first"/>'s routed version now.</summary>
    void RunBatch(GenerationJob first, CancellationToken stoppingToken)
    {
        var policy = holder.BeginBatch(first.RoutedVersion);
        BatchRun? run = null;
        try
        {
            var policyBase = holder.Base;
            if (policy is null || policyBase is null)
            {
                var unavailable = new PolicyUnavailableException("No policy is loaded yet.");
                while (queue.Take(_ => true, _ => 0) is { } job)
                    job.Fail(unavailable);
                return;
            }

            decoder ??= new ContinuousDecoder(policyBase.Config, options.MaxBatchSize,
                Math.Min(policyBase.ContextLength, options.MaxSequenceTokens), policy.Model.Device);
            run = new BatchRun(policy, policyBase, decoder, stats);
            var started = Stopwatch.GetTimestamp();
            var admitted = Fill(run, stoppingToken);
            if (admitted > 0)
                stats.BatchStarted();
            else if (!first.IsDone && !run.Fits(first) && queue.Take(job => ReferenceEquals(job, first), _ => 0) is { } misfit)
                misfit.Fail(new ArgumentException($"The job's prompt and max tokens exceed a KV-cache slot of {decoder.Capacity} positions."));
            while (!run.IsEmpty && !stoppingToken.IsCancellationRequested)
            {
                var rows = runningRows = run.RunningRows;
                run.Step();
                foreach (var listener in listeners)
                    listener.StepDecoded(run.Version, rows);
                if (!queue.Any(job => !RunsOn(job, run)))
                    admitted += AdmitWaiting(run);
            }

            logger.LogDebug("Batch on policy {PolicyVersion} served {Requests} requests in {ElapsedMs:F0} ms",
                policy.Version, admitted, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (stoppingToken.IsCancellationRequested)
                run.FailAll(new OperationCanceledException("The generation service is stopping."));
        }
        catch (Exception error) when (error is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            logger.LogError(error, "Batch on policy {PolicyVersion} failed", policy?.Version);
            run?.FailAll(error);
            // Rows half admitted when the error struck may still hold slots: the next batch starts on a fresh cache.
            decoder?.Dispose();
            decoder = null;
        }
        finally
        {
            runningRows = 0;
            holder.EndBatch();
        }
    }

    /// <summary>Admits the waiting jobs of the batch's version, waiting up to the batch window while slots are free.</summary>
    int Fill(BatchRun run, CancellationToken stoppingToken)
    {
        var admitted = 0;
        var window = Stopwatch.StartNew();
        var windowLength = TimeSpan.FromMilliseconds(options.BatchWindowMs);
        while (run.FreeRows > 0)
        {
            var added = queue.NextAdded;
            var joined = AdmitWaiting(run);
            admitted += joined;
            if (joined > 0)
                continue;
            var remaining = windowLength - window.Elapsed;
            if (remaining <= TimeSpan.Zero || !added.Wait(remaining, stoppingToken))
                break;
        }

        return admitted;
    }

    /// <summary>Admits waiting jobs of the batch's version while they fit, the least busy client first.</summary>
    int AdmitWaiting(BatchRun run)
    {
        var admitted = 0;
        while (queue.Take(job => RunsOn(job, run) && run.Fits(job), job => run.RowsOf(job.ClientKey)) is { } job)
        {
            try
            {
                latency?.Admitted(job);
                run.Admit(job);
                latency?.FirstToken(job);
            }
            catch (Exception error)
            {
                job.Fail(error);
                throw;
            }

            admitted++;
        }

        runningRows = run.RunningRows;
        return admitted;
    }

    bool RunsOn(GenerationJob job, BatchRun run) => holder.Served.Resolve(job.RoutedVersion)?.Version == run.Version;
}
