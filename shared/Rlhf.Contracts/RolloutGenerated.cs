namespace Rlhf.Contracts;

/// <summary>
/// One response served by the generation service: the unit of experience the reward model scores
/// and the learner trains on. Published once per choice of a chat completion.
/// </summary>
/// <param name="RolloutId">Unique id of this response (the <c>rollout_id</c> extension field of the API choice).</param>
/// <param name="GroupId">Id shared by the n candidates of one request (the chat completion's <c>id</c>); rankings compare within a group.</param>
/// <param name="ChoiceIndex">Index of this candidate within its group, 0-based.</param>
/// <param name="GroupSize">Number of candidates in the group (the request's n).</param>
/// <param name="PolicyVersion">Policy version that produced every token of this response.</param>
/// <param name="PromptText">The prompt after the chat template was applied, as the model saw it.</param>
/// <param name="PromptTokenIds">Token ids of <see cref="PromptText"/>.</param>
/// <param name="ResponseText">Decoded response text returned to the client.</param>
/// <param name="ResponseTokenIds">Sampled token ids of the response, including a final stop token when one ended it.</param>
/// <param name="BehaviourLogProbs">Natural-log probability of each response token under the behaviour policy, one per entry of <see cref="ResponseTokenIds"/>, computed at the sampling temperature (see Rlhf.Modeling docs).</param>
/// <param name="FinishReason">OpenAI finish reason: <c>stop</c> or <c>length</c>.</param>
/// <param name="Sampling">Sampling parameters of the request.</param>
/// <param name="ClientId">Id of the client application (API key name) that asked; null when unauthenticated.</param>
/// <param name="UserId">The OpenAI <c>user</c> field of the request, when given.</param>
/// <param name="CreatedAt">When the response was produced (UTC).</param>
public sealed record RolloutGenerated(
    Guid RolloutId,
    string GroupId,
    int ChoiceIndex,
    int GroupSize,
    long PolicyVersion,
    string PromptText,
    IReadOnlyList<int> PromptTokenIds,
    string ResponseText,
    IReadOnlyList<int> ResponseTokenIds,
    IReadOnlyList<float> BehaviourLogProbs,
    string FinishReason,
    SamplingParameters Sampling,
    string? ClientId,
    string? UserId,
    DateTimeOffset CreatedAt);
