using Rlhf.Contracts;
using Rlhf.Generation.Batching;
using Rlhf.Generation.Policy;
using Rlhf.Generation.Rollouts;
using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Generation.Apis;

/// <summary>
/// One accepted chat request: its ids (the group id and a rollout id per choice, known before decoding so every
/// streamed chunk carries them), how its answer is shaped (full response or chunks), and how its rollouts are recorded.
/// </summary>
sealed class ChatCompletionRun(string groupId, PreparedChat chat, string model, string? clientId, ITextTokenizer tokenizer)
{
    readonly DateTimeOffset createdAt = DateTimeOffset.UtcNow;
    readonly IReadOnlyList<Guid> rolloutIds = Enumerable.Range(0, chat.Candidates).Select(_ => Guid.CreateVersion7()).ToList();

    public string GroupId => groupId;

    public PreparedChat Chat => chat;

    long Created => createdAt.ToUnixTimeSeconds();

    public List<RolloutGenerated> ToRollouts(GenerationResult result)
    {
        var sampling = new SamplingParameters(chat.Sampling.Temperature, chat.Sampling.TopP, chat.Sampling.TopK, chat.Sampling.MaxNewTokens,
            chat.Sampling.Seed, chat.Stop);
        return result.Choices.Select((response, index) => new RolloutGenerated(
            RolloutId: rolloutIds[index],
            GroupId: groupId,
            ChoiceIndex: index,
            GroupSize: result.Choices.Count,
            PolicyVersion: result.PolicyVersion,
            PromptText: chat.PromptText,
            PromptTokenIds: chat.PromptTokenIds,
            ResponseText: response.Text,
            ResponseTokenIds: response.TokenIds,
            BehaviourLogProbs: response.LogProbs,
            FinishReason: response.FinishReason,
            Sampling: sampling,
            ClientId: clientId,
            UserId: chat.User,
            CreatedAt: createdAt)).ToList();
    }

    public CompletionUsage Usage(GenerationResult result)
    {
        var completion = result.Choices.Sum(c => c.TokenIds.Count);
        return new CompletionUsage(chat.PromptTokenIds.Count, completion, chat.PromptTokenIds.Count + completion);
    }

    public ChatCompletionResponse Response(GenerationResult result) =>
        new(groupId, "chat.completion", Created, model, ServedPolicy.FingerprintOf(result.PolicyVersion),
            result.Choices.Select((c, i) => new ChatCompletionChoice(i, new AssistantMessage("assistant", c.Text), Logprobs(c), c.FinishReason,
                rolloutIds[i])).ToList(),
            Usage(result));

    public ChatCompletionChunk Chunk(long policyVersion, int choice, ChatCompletionDelta delta, ChoiceLogprobs? logprobs = null,
        string? finishReason = null) =>
        new(groupId, "chat.completion.chunk", Created, model, ServedPolicy.FingerprintOf(policyVersion),
            [new ChatCompletionChunkChoice(choice, delta, logprobs, finishReason, rolloutIds[choice])], null);

    public ChatCompletionChunk UsageChunk(GenerationResult result) =>
        new(groupId, "chat.completion.chunk", Created, model, ServedPolicy.FingerprintOf(result.PolicyVersion), [], Usage(result));

    /// <summary>The chunk of one decoded token: its text and, when asked for, its log-probs.</summary>
    public ChatCompletionChunk? DeltaChunk(long policyVersion, ChoiceDelta delta)
    {
        var logprobs = chat.TopLogProbs is not null && delta.Token is { } token ? new ChoiceLogprobs([Entry(token, delta.Top)]) : null;
        if (delta.Text.Length == 0 && logprobs is null)
            return null;
        return Chunk(policyVersion, delta.Choice, new ChatCompletionDelta(null, delta.Text), logprobs);
    }

    ChoiceLogprobs? Logprobs(FinishedResponse response) =>
        chat.TopLogProbs is null
            ? null
            : new ChoiceLogprobs(Enumerable.Range(0, response.ContentTokenCount)
                .Select(i => Entry(new TokenLogProb(response.TokenIds[i], response.LogProbs[i]),
                    i < response.TopLogProbs.Count ? response.TopLogProbs[i] : []))
                .ToList());

    TokenLogprob Entry(TokenLogProb token, IReadOnlyList<TokenLogProb> top)
    {
        var text = tokenizer.Decode([token.TokenId]);
        return new TokenLogprob(text, token.LogProb, Bytes(text),
            top.Take(chat.TopLogProbs ?? 0).Select(Alternative).ToList());
    }

    TopLogprob Alternative(TokenLogProb token)
    {
        var text = tokenizer.Decode([token.TokenId]);
        return new TopLogprob(text, token.LogProb, Bytes(text));
    }

    static int[] Bytes(string text) => System.Text.Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();
}
