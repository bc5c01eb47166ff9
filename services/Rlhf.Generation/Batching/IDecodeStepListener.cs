namespace Rlhf.Generation.Batching;

/// <summary>
/// Told on the decode thread after every decode step of the continuous batch (for metrics). It runs inside the
/// decode loop, so it must return quickly.
/// </summary>
public interface IDecodeStepListener
{
    /// <param name="policyVersion">The version the batch runs.</param>
    /// <param name="rows">Rows that got a token in this step.</param>
    void StepDecoded(long policyVersion, int rows);
}
