namespace Rlhf.Hosting;

/// <summary>How a <see cref="LowPriorityWorker"/> runs its batch work against the other threads of its process (Linux scheduling).</summary>
public enum BatchPriority
{
    /// <summary>Like every other thread.</summary>
    Normal,

    /// <summary>Nice 10: other threads take the CPU first, but the work still gets about a tenth of a contended core.</summary>
    Low,

    /// <summary>
    /// <c>SCHED_IDLE</c>: the work runs only on CPU time no other thread wants (any other thread that wakes takes the core
    /// at once); on a core that stays busy with other work it makes no progress.
    /// </summary>
    Idle,
}
