namespace Rlhf.Training;

/// <summary>
/// A prompt and the response to imitate (SFT, and the PTX corpus). Only response tokens are predicted; for plain
/// pretraining text leave the prompt empty (every token but the first is then a target).
/// </summary>
public sealed record Demonstration(IReadOnlyList<int> PromptTokenIds, IReadOnlyList<int> ResponseTokenIds)
{
    internal void Validate()
    {
        if (ResponseTokenIds.Count == 0)
            throw new ArgumentException("A demonstration needs at least one response token.");
        if (PromptTokenIds.Count == 0 && ResponseTokenIds.Count < 2)
            throw new ArgumentException("A demonstration without a prompt needs at least two tokens (the first is never predicted).");
    }
}
