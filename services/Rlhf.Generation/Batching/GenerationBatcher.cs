using System.Diagnostics;
using Microsoft.Extensions.Options;
using Rlhf.Generation.Policy;
using Rlhf.Modeling.Generation;

namespace Rlhf.Generation.Batching;

/// <summary>
/// Merges concurrent requests into one batched decode. Requests wait in a bounded <see cref="JobQueue"/>; the batcher
/// takes the oldest, waits up to <see cref="GenerationOptions.BatchWindowMs"/> for more jobs routed to the same policy
/// version, and decodes up to <see cref="GenerationOptions.MaxBatchSize"/> rows (a request with n candidates takes n
/// rows) in one <see cref="Sampler.Generate"/> call on that version (the champion if that version is no longer served).
/// </summary>
public sealed class GenerationBatcher(PolicyHolder holder, GenerationStats stats, IOptions<GenerationOptions> options, ILogger<GenerationBatcher> logger,
    GenerationLatency? latency = null)
    : BackgroundService
{
    readonly GenerationOptions options = options.Value;
    readonly JobQueue queue = new(options.Value.MaxQueueLength);

    /// <summary>Requests waiting for a batch.</summary>
    public int QueueLength => queue.Count;

    /// <summary>False when the queue is full (the caller answers 429).</summary>
    public bool TryEnqueue(GenerationJob job)
    {
        if (job.Candidates > options.MaxBatchSize)
            throw new ArgumentException($"A job of {job.Candidates} candidates cannot fit a batch of {options.MaxBatchSize} rows.", nameof(job));
        return queue.TryAdd(job);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var added = queue.NextAdded;
                if (queue.Peek() is not { } first)
                {
                    await added.WaitAsync(stoppingToken);
                    continue;
                }

                queue.Remove(first);
                var batch = new List<GenerationJob> { first };
                await FillAsync(batch, stoppingToken);
                // Decoding is synchronous LibTorch work. Not cancellable: every job taken must be answered.
                await Task.Run(() => Decode(batch), CancellationToken.None);
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
        }
    }

    /// <summary>
    /// Adds waiting jobs of the first job's version until the batch is full or the window closes. A job of that version
    /// that does not fit ends the batch; it heads a later one.
    /// </summary>
    async Task FillAsync(List<GenerationJob> batch, CancellationToken stoppingToken)
    {
        var version = batch[0].RoutedVersion;
        var rows = batch[0].Candidates;
        var window = Stopwatch.StartNew();
        var windowLength = TimeSpan.FromMilliseconds(options.BatchWindowMs);
        while (rows < options.MaxBatchSize)
        {
            var added = queue.NextAdded;
            if (queue.Peek(version) is { } next)
            {
                if (rows + next.Candidates > options.MaxBatchSize || !FitsContext(batch, next))
                    return;
                queue.Remove(next);
                batch.Add(next);
                rows += next.Candidates;
                continue;
            }

            var remaining = windowLength - window.Elapsed;
            if (remaining <= TimeSpan.Zero)
                return;
            try
            {
                await added.WaitAsync(remaining, stoppingToken);
            }
            catch (Exception error) when (error is TimeoutException or OperationCanceledException)
            {
                // The window closed, or the service stops: the jobs taken are decoded all the same.
                return;
            }
        }
    }

    /// <summary>The sampler pads every row to the longest prompt and runs to the largest max_tokens; the sum must fit the context.</summary>
    bool FitsContext(List<GenerationJob> batch, GenerationJob next)
    {
        var context = holder.Base?.ContextLength ?? int.MaxValue;
        var prompt = Math.Max(batch.Max(j => j.PromptTokenIds.Count), next.PromptTokenIds.Count);
        var maxNew = Math.Max(batch.Max(j => j.Sampling.MaxNewTokens), next.Sampling.MaxNewTokens);
        return (long)prompt + maxNew <= context;
    }

    void Decode(List<GenerationJob> batch)
    {
        var live = batch.Where(j => !j.IsDone).ToList();
        if (live.Count == 0)
            return;
        var policy = holder.BeginBatch(live[0].RoutedVersion);
        try
        {
            var policyBase = holder.Base;
            if (policy is null || policyBase is null)
            {
                foreach (var job in live)
                    job.Fail(new PolicyUnavailableException("No policy is loaded yet."));
                return;
            }

            var rows = live.SelectMany(j => j.Rows()).ToList();
            var started = Stopwatch.GetTimestamp();
            var sequences = Sampler.Generate(policy.Model, rows, policyBase.StopTokenIds, policyBase.Tokenizer.PadId);
            var offset = 0;
            foreach (var job in live)
            {
                job.Complete(new GenerationResult(policy.Version, sequences.Skip(offset).Take(job.Candidates).ToList()));
                offset += job.Candidates;
            }

            stats.BatchServed(policy.Version, live.Count, rows.Count);
            latency?.Decoded(live, started);
            logger.LogDebug("Decoded {Requests} requests ({Rows} rows) on policy {PolicyVersion} in {ElapsedMs:F0} ms",
                live.Count, rows.Count, policy.Version, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception error)
        {
            logger.LogError(error, "Batch of {Requests} requests failed", live.Count);
            foreach (var job in live)
                job.Fail(error);
        }
        finally
        {
            holder.EndBatch();
        }
    }
}
