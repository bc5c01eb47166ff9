using System.Threading.Channels;
using Rlhf.Generation.Rollouts;
using Rlhf.Modeling.Generation;

namespace Rlhf.Generation.Batching;

/// <summary>The choices of one request and the single policy version that produced all of them.</summary>
public sealed record GenerationResult(long PolicyVersion, IReadOnlyList<FinishedResponse> Choices);

/// <summary>No policy is loaded, so nothing can be generated (the API answers 503).</summary>
public sealed class PolicyUnavailableException(string message) : Exception(message);

/// <summary>
/// One request for the batcher: its prompt, how to sample, how many candidates, the policy version it was routed to,
/// and when to stop. Candidate i samples with seed <c>Seed + i</c> when a seed is given, so a seeded request is
/// reproducible whatever shares its batch. A streamed job reports every token as it is decoded (<see cref="Events"/>).
/// </summary>
public sealed class GenerationJob(
    IReadOnlyList<int> promptTokenIds,
    SamplingOptions sampling,
    int candidates,
    long routedVersion,
    IReadOnlyList<string>? stopStrings = null,
    int topLogProbs = 0,
    string? clientKey = null,
    bool streamed = false)
{
    readonly TaskCompletionSource<GenerationResult> completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Channel<JobEvent> events = Channel.CreateUnbounded<JobEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    public IReadOnlyList<int> PromptTokenIds { get; } = promptTokenIds;

    /// <summary>When the job was made (just before it is queued): the start of its queue wait and time to first token.</summary>
    public long EnqueuedAt { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

    public SamplingOptions Sampling { get; } = sampling;

    /// <summary>Sampler rows this job takes (the request's n).</summary>
    public int Candidates { get; } = candidates;

    /// <summary>The version routing chose (champion or canary); if it is no longer served when the job starts, the champion answers.</summary>
    public long RoutedVersion { get; } = routedVersion;

    /// <summary>Strings that end a choice as soon as the decoded text holds one (cut from the text).</summary>
    public IReadOnlyList<string> StopStrings { get; } = stopStrings ?? [];

    /// <summary>Most likely alternatives reported per token (0: none).</summary>
    public int TopLogProbs { get; } = topLogProbs;

    /// <summary>Who asked (client app or end user): the batcher shares free slots fairly between keys.</summary>
    public string ClientKey { get; } = clientKey ?? "";

    /// <summary>Token-by-token events of a streamed job; completes when the job does (with its error when it fails).</summary>
    public ChannelReader<JobEvent> Events => events.Reader;

    /// <summary>Answered, failed or cancelled: the batcher skips it, or frees its rows at the next token.</summary>
    public bool IsDone => completion.Task.IsCompleted;

    /// <summary>Waits for the result; cancelling withdraws the job (a waiting job is never decoded, a running one stops).</summary>
    public async Task<GenerationResult> WaitAsync(CancellationToken cancellationToken)
    {
        await using (cancellationToken.Register(Cancel))
            return await completion.Task;
    }

    /// <summary>The caller gives up (client gone, timeout): the job is dropped from the queue or its rows are freed.</summary>
    public void Cancel()
    {
        completion.TrySetCanceled();
        events.Writer.TryComplete();
    }

    internal IReadOnlyList<SamplingOptions> RowSamplings() =>
        Enumerable.Range(0, Candidates).Select(i => Sampling with { Seed = Sampling.Seed + i }).ToList();

    internal void Report(JobEvent jobEvent)
    {
        if (streamed)
            events.Writer.TryWrite(jobEvent);
    }

    internal void Complete(GenerationResult result)
    {
        completion.TrySetResult(result);
        events.Writer.TryComplete();
    }

    internal void Fail(Exception error)
    {
        completion.TrySetException(error);
        events.Writer.TryComplete(error);
    }
}
