using Rlhf.Modeling.Generation;
using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

public sealed class TransformerTests
{
    [Fact]
    public void State_dict_uses_hugging_face_names()
    {
        using var model = TinyModels.Policy(tied: false);
        var names = model.state_dict().Keys.ToHashSet();

        Assert.Contains("model.embed_tokens.weight", names);
        Assert.Contains("model.layers.0.self_attn.q_proj.weight", names);
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", names);
        Assert.Contains("model.layers.1.self_attn.o_proj.weight", names);
        Assert.Contains("model.layers.1.mlp.gate_proj.weight", names);
        Assert.Contains("model.layers.1.input_layernorm.weight", names);
        Assert.Contains("model.layers.1.post_attention_layernorm.weight", names);
        Assert.Contains("model.norm.weight", names);
        Assert.Contains("lm_head.weight", names);
        Assert.DoesNotContain("model.layers.0.self_attn.o_proj.bias", names);
        Assert.Equal([16L, 32L], model.state_dict()["model.layers.0.self_attn.k_proj.weight"].shape);
    }

    [Fact]
    public void Tied_model_has_no_lm_head_weight()
    {
        using var model = TinyModels.Policy(tied: true);

        Assert.DoesNotContain("lm_head.weight", model.state_dict().Keys);
    }

    [Fact]
    public void Changing_a_later_token_leaves_earlier_logits_unchanged()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModels.Policy();
        var a = TinyModels.Ids([3, 14, 15, 9, 26, 5]);
        var b = TinyModels.Ids([3, 14, 15, 9, 40, 41]);

        var logitsA = model.Forward(a);
        var logitsB = model.Forward(b);

        Assert.True(logitsA.narrow(1, 0, 4).allclose(logitsB.narrow(1, 0, 4), rtol: 0, atol: 0), "positions before the change moved");
        Assert.False(logitsA.narrow(1, 4, 1).allclose(logitsB.narrow(1, 4, 1)), "the changed position must differ");
    }

    [Fact]
    public void Left_padding_does_not_change_the_logits_of_real_tokens()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModels.Policy();
        var alone = model.Forward(TinyModels.Ids([7, 8, 9]));
        var padded = model.Forward(TinyModels.Ids([0, 0, 7, 8, 9]), TinyModels.Ids([0, 0, 1, 1, 1]));

        Assert.True(alone.allclose(padded.narrow(1, 2, 3), atol: 1e-5), "left padding shifted the real tokens' logits");
    }

    [Fact]
    public void Kv_cache_generation_matches_full_recomputation()
    {
        using var model = TinyModels.Policy();
        var requests = new[] { new GenerationRequest([1, 2, 3, 4, 5], SamplingOptions.Greedy(12)) };

        var cached = Sampler.Generate(model, requests, stopTokenIds: [], padTokenId: 0, useKvCache: true)[0];
        var full = Sampler.Generate(model, requests, stopTokenIds: [], padTokenId: 0, useKvCache: false)[0];

        Assert.Equal(full.TokenIds, cached.TokenIds);
        Assert.Equal(12, cached.TokenIds.Count);
        for (var i = 0; i < full.LogProbs.Count; i++)
            Assert.True(Math.Abs(full.LogProbs[i] - cached.LogProbs[i]) < 1e-5, $"log-prob {i}: {full.LogProbs[i]} vs {cached.LogProbs[i]}");
    }

    [Fact]
    public void Kv_cache_step_logits_match_a_full_forward()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModels.Policy();
        var ids = TinyModels.Ids([4, 8, 15, 16, 23, 42]);
        var full = model.Forward(ids);

        using var cache = new KvCache(model.Config, batch: 1, capacity: 6, model.Device);
        var prefix = model.Forward(ids.narrow(1, 0, 4), ones(1, 4, dtype: int64), cache);
        var step5 = model.Forward(ids.narrow(1, 4, 1), ones(1, 5, dtype: int64), cache);
        var step6 = model.Forward(ids.narrow(1, 5, 1), ones(1, 6, dtype: int64), cache);
        var stitched = cat([prefix, step5, step6], 1);

        Assert.True(full.allclose(stitched, atol: 1e-5), $"max diff {(full - stitched).abs().max().item<float>()}");
    }

    [Fact]
    public void Batched_generation_equals_one_by_one()
    {
        using var model = TinyModels.Policy();
        var requests = new[]
        {
            new GenerationRequest([1, 2, 3], SamplingOptions.Greedy(8)),
            new GenerationRequest([9, 8, 7, 6, 5, 4, 3], SamplingOptions.Greedy(5)),
            new GenerationRequest([11], SamplingOptions.Greedy(8)),
        };

        var batched = Sampler.Generate(model, requests, [], padTokenId: 0);
        for (var i = 0; i < requests.Length; i++)
        {
            var alone = Sampler.Generate(model, [requests[i]], [], padTokenId: 0)[0];
            Assert.Equal(alone.TokenIds, batched[i].TokenIds);
            for (var t = 0; t < alone.LogProbs.Count; t++)
                Assert.True(Math.Abs(alone.LogProbs[t] - batched[i].LogProbs[t]) < 1e-4, $"row {i} token {t}");
        }

        Assert.Equal(5, batched[1].TokenIds.Count);
    }

    [Fact]
    public void Seeded_sampling_is_reproducible_and_independent_of_batch_mates()
    {
        using var model = TinyModels.Policy();
        var sampling = new SamplingOptions(MaxNewTokens: 10, Temperature: 1.3, TopK: 20, TopP: 0.95, Seed: 42);
        var request = new GenerationRequest([5, 6, 7], sampling);
        var other = new GenerationRequest([1, 1, 2, 3], sampling with { Seed = 7 });

        var first = Sampler.Generate(model, [request], [], 0)[0];
        var again = Sampler.Generate(model, [other, request], [], 0)[1];
        var differentSeed = Sampler.Generate(model, [request with { Sampling = sampling with { Seed = 43 } }], [], 0)[0];

        Assert.Equal(first.TokenIds, again.TokenIds);
        Assert.NotEqual(first.TokenIds, differentSeed.TokenIds);
    }

    [Fact]
    public void Stop_token_ends_a_sequence_and_is_reported()
    {
        using var model = TinyModels.Policy();
        var request = new GenerationRequest([1, 2, 3], SamplingOptions.Greedy(10));
        var free = Sampler.Generate(model, [request], [], 0)[0];
        var stopAt = free.TokenIds[2];

        var stopped = Sampler.Generate(model, [request], [stopAt], 0)[0];

        var firstIndex = free.TokenIds.ToList().IndexOf(stopAt);
        Assert.Equal(free.TokenIds.Take(firstIndex + 1), stopped.TokenIds);
        Assert.Equal(FinishReason.Stop, stopped.Finish);
        Assert.Equal(FinishReason.Length, free.Finish);
    }

    [Fact]
    public void Generation_log_probs_equal_the_learners_recomputation()
    {
        using var scope = NewDisposeScope();
        using var model = TinyModels.Policy();
        var prompt = new[] { 3, 1, 4, 1, 5 };
        var sampling = new SamplingOptions(MaxNewTokens: 8, Temperature: 0.7, Seed: 3);
        var generated = Sampler.Generate(model, [new GenerationRequest(prompt, sampling)], [], 0)[0];

        using var batch = Scoring.Collate([(prompt, generated.TokenIds)], padTokenId: 0, model.Device);
        var logp = Scoring.TokenLogProbs(model, batch.InputIds, batch.AttentionMask, temperature: 0.7);
        var response = logp[0].narrow(0, prompt.Length - 1, generated.TokenIds.Count).data<float>().ToArray();

        for (var i = 0; i < response.Length; i++)
            Assert.True(Math.Abs(response[i] - generated.LogProbs[i]) < 1e-4, $"token {i}: learner {response[i]} vs sampler {generated.LogProbs[i]}");
    }

    [Fact]
    public void Prompt_longer_than_the_context_is_rejected_with_the_numbers()
    {
        using var model = TinyModels.Policy();
        var request = new GenerationRequest(Enumerable.Repeat(1, 60).ToList(), SamplingOptions.Greedy(10));

        var error = Assert.Throws<ArgumentException>(() => Sampler.Generate(model, [request], [], 0));
        Assert.Contains("max_position_embeddings (64)", error.Message);
    }

    [Fact]
    public void Reward_is_read_at_the_last_real_token_for_either_padding_side()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        using var rm = new ScalarHeadModel(TinyModels.Config());
        rm.eval();

        var alone = rm.Rewards(TinyModels.Ids([5, 6, 7]), TinyModels.Ids([1, 1, 1]));
        var rightPadded = rm.Rewards(TinyModels.Ids([5, 6, 7, 0, 0]), TinyModels.Ids([1, 1, 1, 0, 0]));
        var leftPadded = rm.Rewards(TinyModels.Ids([0, 0, 5, 6, 7]), TinyModels.Ids([0, 0, 1, 1, 1]));
        var values = rm.Values(TinyModels.Ids([5, 6, 7]));

        Assert.True(alone.allclose(rightPadded, atol: 1e-5));
        Assert.True(alone.allclose(leftPadded, atol: 1e-5));
        Assert.Equal(values[0, 2].item<float>(), alone[0].item<float>(), 5);
    }
}
