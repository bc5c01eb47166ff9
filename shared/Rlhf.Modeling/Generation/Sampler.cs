using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Modeling.Generation;

/// <summary>
/// Batched autoregressive sampling. Prompts of different lengths are left-padded into one batch; positions come
/// from the attention mask, so a sequence gets the same tokens alone or in a batch. With the KV cache each step
/// feeds one token per row; without it every step recomputes the whole prefix (kept for tests and benchmarks).
/// </summary>
public static class Sampler
{
    public static IReadOnlyList<GeneratedSequence> Generate(
        CausalLM model, IReadOnlyList<GenerationRequest> requests, IReadOnlyCollection<int> stopTokenIds, int padTokenId,
        bool useKvCache = true)
    {
        if (requests.Count == 0)
            return [];
        foreach (var request in requests)
        {
            request.Sampling.Validate();
            if (request.PromptTokenIds.Count == 0)
                throw new ArgumentException("A prompt must hold at least one token.");
        }

        var config = model.Config;
        var device = model.Device;
        var batch = requests.Count;
        var promptLength = requests.Max(r => r.PromptTokenIds.Count);
        var maxNew = requests.Max(r => r.Sampling.MaxNewTokens);
        if (promptLength + maxNew > config.MaxPositionEmbeddings)
            throw new ArgumentException(
                $"prompt ({promptLength} tokens) + max new tokens ({maxNew}) exceed the model's max_position_embeddings ({config.MaxPositionEmbeddings}).");

        var generators = requests
            .Select(r => new torch.Generator((ulong)(r.Sampling.Seed ?? Random.Shared.NextInt64()), device))
            .ToArray();
        var outputs = requests.Select(_ => new List<int>()).ToArray();
        var logProbs = requests.Select(_ => new List<float>()).ToArray();
        var finish = new FinishReason?[batch];

        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            // Every tensor of the call belongs to this scope (or a step scope inside it), so nothing outlives the call.
            using var callScope = NewDisposeScope();
            using var cache = useKvCache ? new KvCache(config, batch, promptLength + maxNew, device) : null;

            // Left-pad prompts: (B, Lp) ids and mask.
            var ids = new long[batch, promptLength];
            var mask = new long[batch, promptLength];
            for (var b = 0; b < batch; b++)
            {
                var prompt = requests[b].PromptTokenIds;
                var offset = promptLength - prompt.Count;
                for (var i = 0; i < promptLength; i++)
                {
                    ids[b, i] = i < offset ? padTokenId : prompt[i - offset];
                    mask[b, i] = i < offset ? 0 : 1;
                }
            }

            var allIds = tensor(ids, device: device);
            var allMask = tensor(mask, device: device);
            var stepInput = allIds;
            for (var step = 0; step < maxNew && finish.Any(f => f is null); step++)
            {
                using var stepScope = NewDisposeScope();
                var logits = useKvCache
                    ? model.Forward(stepInput, allMask, cache)
                    : model.Forward(allIds, allMask);
                var last = logits.select(1, logits.shape[1] - 1);                          // (B, V)
                var next = new long[batch];
                var nextMask = new long[batch];
                for (var b = 0; b < batch; b++)
                {
                    if (finish[b] is not null)
                    {
                        next[b] = padTokenId;
                        continue;
                    }

                    var (token, logProb) = TokenSampler.Sample(last[b], requests[b].Sampling, generators[b]);
                    outputs[b].Add(token);
                    logProbs[b].Add(logProb);
                    next[b] = token;
                    nextMask[b] = 1;
                    if (stopTokenIds.Contains(token))
                        finish[b] = FinishReason.Stop;
                    else if (outputs[b].Count >= requests[b].Sampling.MaxNewTokens)
                        finish[b] = FinishReason.Length;
                }

                var nextIds = tensor(next, device: device).unsqueeze(1);                   // (B, 1)
                var grownMask = cat([allMask, tensor(nextMask, device: device).unsqueeze(1)], 1);
                var grownIds = cat([allIds, nextIds], 1);
                allMask.Dispose();
                allIds.Dispose();
                stepInput.Dispose();
                allMask = grownMask.MoveToOuterDisposeScope();
                allIds = grownIds.MoveToOuterDisposeScope();
                stepInput = nextIds.MoveToOuterDisposeScope();
            }
        }
        finally
        {
            foreach (var generator in generators)
                generator.Dispose();
            model.train(wasTraining);
        }

        return Enumerable.Range(0, batch)
            .Select(b => new GeneratedSequence(outputs[b], logProbs[b], finish[b] ?? FinishReason.Length))
            .ToList();
    }
}
