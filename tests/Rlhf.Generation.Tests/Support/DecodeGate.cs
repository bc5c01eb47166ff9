using Rlhf.Generation.Batching;

namespace Rlhf.Generation.Tests.Support;

/// <summary>
/// Counts decode steps and, while held, stops the decode loop after its next step until released, so a test can look
/// at a request in the middle of its decode without timing anything.
/// </summary>
public sealed class DecodeGate : IDecodeStepListener
{
    readonly SemaphoreSlim permits = new(0);
    volatile bool holding;
    int steps;

    public int Steps => Volatile.Read(ref steps);

    public void Hold() => holding = true;

    public void Release()
    {
        holding = false;
        permits.Release();
    }

    public void StepDecoded(long policyVersion, int rows)
    {
        Interlocked.Increment(ref steps);
        // Bounded, so a failing test cannot hang the decode thread for good.
        if (holding)
            permits.Wait(TimeSpan.FromSeconds(30));
    }
}
