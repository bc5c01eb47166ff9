namespace Rlhf.Reward.Training;

/// <summary>Wakes the <see cref="RoundScheduler"/> when recorded feedback makes a round due; nudges while one is pending are absorbed.</summary>
public sealed class RoundSignal
{
    readonly SemaphoreSlim nudged = new(0, 1);

    public void Nudge()
    {
        try
        {
            nudged.Release();
        }
        catch (SemaphoreFullException)
        {
        }
    }

    /// <summary>Waits for a nudge or <paramref name="timeout"/>.</summary>
    public Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => nudged.WaitAsync(timeout, cancellationToken);
}
