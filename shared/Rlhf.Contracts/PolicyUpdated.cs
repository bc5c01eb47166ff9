namespace Rlhf.Contracts;

/// <summary>The learner promoted a new policy version; generation swaps to it between batches.</summary>
/// <param name="PolicyVersion">New version number (monotonic; the bootstrap policy is version 0).</param>
/// <param name="ParentVersion">Version it was trained from.</param>
/// <param name="Blob">Reference to the weights: the full model (<c>Format</c> <c>safetensors</c>), or, when the learner trains LoRA
/// (<c>Learner:Lora:Rank</c> &gt; 0), the PEFT-layout adapter blob (<c>Format</c> <c>safetensors-lora</c>) with the base weights'
/// sha256 in <see cref="BlobReference.BaseSha256"/>.</param>
/// <param name="Metrics">Training and evaluation metrics of this version.</param>
/// <param name="IsRollback">True when an operator chose the version (<c>rlhf policy rollback</c> or <c>promote</c> of a version that is not the canary, older or newer): the learner then continues from its weights.</param>
/// <param name="CreatedAt">When the version was published (UTC).</param>
public sealed record PolicyUpdated(
    long PolicyVersion,
    long ParentVersion,
    BlobReference Blob,
    PolicyMetrics Metrics,
    bool IsRollback,
    DateTimeOffset CreatedAt);
