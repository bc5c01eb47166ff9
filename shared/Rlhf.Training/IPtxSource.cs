namespace Rlhf.Training;

/// <summary>
/// Supplies PPO-ptx batches from a pretraining or SFT corpus: one batch per PPO mini-batch update. Its position in
/// the corpus is its own state; trainer checkpoints do not include it.
/// </summary>
public interface IPtxSource
{
    IReadOnlyList<Demonstration> NextBatch();
}
