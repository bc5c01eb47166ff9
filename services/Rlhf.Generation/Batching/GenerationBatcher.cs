using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Rlhf.Generation.Policy;
using Rlhf.Modeling.Generation;

namespace Rlhf.Generation.Batching;

/// <summary>
/// Merges concurrent requests into one batched decode. Requests wait in a bounded queue; the batcher takes the
/// first, waits up to <see cref="GenerationOptions.BatchWindowMs"/> for more, and decodes up to
/// <see cref="GenerationOptions.MaxBatchSize"/> rows (a request with n candidates takes n rows) in one
/// <see cref="Sampler.Generate"/> call, on the policy version current when the batch starts.
/// </summary>
public sealed class GenerationBatcher : BackgroundService
{
    readonly PolicyHolder holder;
    readonly GenerationStats stats;
    readonly ILogger<GenerationBatcher> logger;
    readonly GenerationOptions options;
    readonly Channel<GenerationJob> queue;

    public GenerationBatcher(PolicyHolder holder, GenerationStats stats, IOptions<GenerationOptions> options, ILogger<GenerationBatcher> logger)
    {
        this.holder = holder;
        this.stats = stats;
        this.logger = logger;
        this.options = options.Value;
        queue = Channel.CreateBounded<GenerationJob>(new BoundedChannelOptions(this.options.MaxQueueLength)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Requests waiting for a batch.</summary>
    public int QueueLength => queue.Reader.Count;

    /// <summary>False when the queue is full (the caller answers 429).</summary>
    public bool TryEnqueue(GenerationJob job)
    {
        if (job.Candidates > options.MaxBatchSize)
            throw new ArgumentException($"A job of {job.Candidates} candidates cannot fit a batch of {options.MaxBatchSize} rows.", nameof(job));
        return queue.Writer.TryWrite(job);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        GenerationJob? carried = null;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var first = carried ?? await queue.Reader.ReadAsync(stoppingToken);
                carried = null;
                if (first.IsDone)
                    continue;
                var batch = new List<GenerationJob> { first };
                carried = await FillAsync(batch, stoppingToken);
                // Decoding is synchronous LibTorch work. Not cancellable: every job taken must be answered.
                await Task.Run(() => Decode(batch), CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            queue.Writer.TryComplete();
            var stopping = new OperationCanceledException("The generation service is stopping.");
            carried?.Fail(stopping);
            while (queue.Reader.TryRead(out var job))
                job.Fail(stopping);
        }
    }

    /// <summary>Adds waiting jobs until the batch is full or the window closes; returns a job that did not fit, for the next batch.</summary>
    async Task<GenerationJob?> FillAsync(List<GenerationJob> batch, CancellationToken stoppingToken)
    {
        var rows = batch[0].Candidates;
        var window = Stopwatch.StartNew();
        var windowLength = TimeSpan.FromMilliseconds(options.BatchWindowMs);
        while (rows < options.MaxBatchSize)
        {
            if (queue.Reader.TryRead(out var next))
            {
                if (next.IsDone)
                    continue;
                if (rows + next.Candidates > options.MaxBatchSize || !FitsContext(batch, next))
                    return next;
                batch.Add(next);
                rows += next.Candidates;
                continue;
            }

            var remaining = windowLength - window.Elapsed;
            if (remaining <= TimeSpan.Zero)
                break;
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            wait.CancelAfter(remaining);
            try
            {
                if (!await queue.Reader.WaitToReadAsync(wait.Token))
                    break;
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                break;
            }
        }

        return null;
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
        var policy = holder.BeginBatch();
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

            stats.BatchServed(live.Count, rows.Count);
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
