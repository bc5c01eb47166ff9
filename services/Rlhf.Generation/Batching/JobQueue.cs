namespace Rlhf.Generation.Batching;

/// <summary>
/// Jobs waiting for a decode slot, oldest first, at most <c>capacity</c> of them. Requests only add at the end; the one
/// reader (the batcher) takes the job it may run next (its version, the least busy client first), wherever it waits.
/// Jobs their callers withdrew are dropped as the reader meets them.
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
    /// Completes once a job is added after this property was read. Read it before <see cref="Oldest"/> or <see cref="Take"/> finds nothing, so
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

    /// <summary>The oldest waiting job, left in the queue.</summary>
    public GenerationJob? Oldest()
    {
        lock (gate)
            return Waiting().FirstOrDefault();
    }

    /// <summary>True when a waiting job matches <paramref name="predicate"/>.</summary>
    public bool Any(Func<GenerationJob, bool> predicate)
    {
        lock (gate)
            return Waiting().Any(predicate);
    }

    /// <summary>
    /// Removes and returns the waiting job that <paramref name="eligible"/> accepts with the lowest
    /// <paramref name="load"/> (the rows its client already runs), the oldest among equals; null when none is eligible.
    /// </summary>
    public GenerationJob? Take(Func<GenerationJob, bool> eligible, Func<GenerationJob, int> load)
    {
        lock (gate)
        {
            GenerationJob? best = null;
            var bestLoad = int.MaxValue;
            foreach (var job in Waiting())
            {
                if (!eligible(job))
                    continue;
                var jobLoad = load(job);
                if (jobLoad < bestLoad)
                    (best, bestLoad) = (job, jobLoad);
            }

            if (best is not null)
                jobs.Remove(best);
            return best;
        }
    }

    /// <summary>Waiting jobs, oldest first; drops the ones their callers withdrew. Call under the lock.</summary>
    IEnumerable<GenerationJob> Waiting()
    {
        var node = jobs.First;
        while (node is not null)
        {
            var next = node.Next;
            if (node.Value.IsDone)
                jobs.Remove(node);
            else
                yield return node.Value;
            node = next;
        }
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
