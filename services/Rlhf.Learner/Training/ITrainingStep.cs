namespace Rlhf.Learner.Training;

/// <summary>
/// One kind of training the <see cref="TrainingSequencer"/> runs on a batch of <typeparamref name="TMessage"/>: which
/// messages may be trained on (as <typeparamref name="TItem"/>s), and one optimisation step over them.
/// </summary>
public interface ITrainingStep<TMessage, TItem>
{
    /// <summary>Name in logs: <c>PPO</c>, <c>SFT</c>.</summary>
    string Name { get; }

    Task<AdmittedBatch<TItem>> AdmitAsync(IReadOnlyList<TMessage> batch, CancellationToken cancellationToken);

    /// <summary>Trains on <paramref name="items"/> (not empty) and measures the candidate; the sequencer restores the weights when it fails or skips.</summary>
    StepResult Train(IReadOnlyList<TItem> items);

    /// <summary>
    /// <paramref name="admitted"/> less what a user's deletion covers now (asked after training and the gate, just before
    /// the checkpoint, since a deletion can arrive while a step trains): the same instance when nothing is, else a batch of the rest whose
    /// <see cref="AdmittedBatch{TItem}.CountBatch"/> counts the items left out.
    /// </summary>
    Task<AdmittedBatch<TItem>> WithoutErasedAsync(AdmittedBatch<TItem> admitted, CancellationToken cancellationToken);
}

/// <summary>What a batch left to train on.</summary>
/// <param name="Items">What to train on; empty when nothing in the batch is usable.</param>
/// <param name="ClaimKeys">One claim per item, taken by the checkpoint that consumes them (see <see cref="TrainingClaims"/>).</param>
/// <param name="CountBatch">The batch's counters (batches, duplicates, each rejection), counted whether or not anything is trained.</param>
/// <param name="CountTrained">The counters of a published version trained on <see cref="Items"/>.</param>
public sealed record AdmittedBatch<TItem>(
    IReadOnlyList<TItem> Items,
    IReadOnlyList<string> ClaimKeys,
    Func<CounterValues, CounterValues> CountBatch,
    Func<CounterValues, CounterValues> CountTrained);

/// <summary>A trained candidate for the gate, or why the trainer skipped the step (its weights are then unchanged).</summary>
public sealed record StepResult(GateCandidate? Candidate, string? SkipReason)
{
    public static StepResult Trained(GateCandidate candidate) => new(candidate, null);

    public static StepResult Skipped(string reason) => new(null, reason);
}
