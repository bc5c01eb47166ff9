namespace Rlhf.Generation.Batching;

/// <summary>
/// Jobs waiting for a batch, oldest first, at most <c>capacity</c> of them. Requests only add at the end; the one reader
/// (the batcher) takes the oldest job, then jobs routed to the same policy version wherever they wait, so that a batch
/// runs one version while the other jobs keep their order. Jobs their callers withdrew are dropped as the reader meets them.
/// </summary>
public sealed class JobQueue(int capacity)
{
    readonly Lock gate = new();
    readonly LinkedList<GenerationJob> jobs = new();
    TaskCompletionSource added = NewSignal();
    bool closed;

    public int Count
    {
        get
        {
            lock (gate)
                return jobs.Count;
        }
    }

    /// <summary>
    /// Completes once a job is added after this property was read. Read it before <see cref="Peek"/> finds nothing, so
    /// that a job added in between is not missed.
    /// </summary>
    public Task NextAdded
    {
        get
        {
            lock (gate)
                return added.Task;
        }
    }

    /// <summary>False when <paramref name="job"/> was not queued: the queue is full or closed.</summary>
    public bool TryAdd(GenerationJob job)
    {
        TaskCompletionSource signal;
        lock (gate)
        {
            if (closed || jobs.Count >= capacity)
                return false;
            jobs.AddLast(job);
            signal = added;
            added = NewSignal();
        }

        signal.SetResult();
        return true;
    }

    /// <summary>The oldest waiting job routed to <paramref name="routedVersion"/> (of any version when null), left in the queue.</summary>
    public GenerationJob? Peek(long? routedVersion = null)
    {
        lock (gate)
        {
            var node = jobs.First;
            while (node is not null)
            {
                var next = node.Next;
                if (node.Value.IsDone)
                    jobs.Remove(node);
                else if (routedVersion is null || node.Value.RoutedVersion == routedVersion)
                    return node.Value;
                node = next;
            }

            return null;
        }
    }

    public void Remove(GenerationJob job)
    {
        lock (gate)
            jobs.Remove(job);
    }

    /// <summary>Takes no more jobs from now on and hands back all that wait.</summary>
    public IReadOnlyList<GenerationJob> Close()
    {
        lock (gate)
        {
            closed = true;
            var waiting = jobs.ToList();
            jobs.Clear();
            return waiting;
        }
    }

    static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
