using Rlhf.Modeling.Generation;
using static TorchSharp.torch;

namespace Rlhf.Modeling.Tests;

public sealed class ContinuousDecoderTests
{
    /// <summary>Runs the decoder until every row reached its max new tokens, admitting request i before step joinAt[i].</summary>
    static List<int>[] Decode(CausalLM model, GenerationRequest[] requests, int[] joinAt, int slots, List<float>[]? logProbs = null)
    {
        using var decoder = new ContinuousDecoder(model.Config, slots, model.Config.MaxPositionEmbeddings, CPU);
        var tokens = requests.Select(_ => new List<int>()).ToArray();
        var owner = new Dictionary<DecodeRow, int>();
        void Record(IEnumerable<SampledToken> sampled)
        {
            foreach (var token in sampled)
            {
                var i = owner[token.Row];
                tokens[i].Add(token.TokenId);
                logProbs?[i].Add(token.LogProb);
                if (token.Row.Generated >= token.Row.Sampling.MaxNewTokens)
                    decoder.Release(token.Row);
            }
        }

        for (var step = 0; step < 200 && (decoder.Running.Count > 0 || step <= joinAt.Max()); step++)
        {
            for (var i = 0; i < requests.Length; i++)
            {
                if (joinAt[i] != step)
                    continue;
                var first = decoder.Admit(model, requests[i].PromptTokenIds, [requests[i].Sampling]);
                owner[first[0].Row] = i;
                Record(first);
            }

            Record(decoder.Step(model));
        }

        return tokens;
    }

    [Fact]
    public void Rows_joining_and_leaving_at_token_boundaries_get_the_tokens_and_log_probs_they_get_alone()
    {
        using var model = TinyModels.Policy();
        var requests = new[]
        {
            new GenerationRequest([1, 2, 3, 4, 5], SamplingOptions.Greedy(12)),
            new GenerationRequest([7, 8], SamplingOptions.Greedy(3)),
            new GenerationRequest([9, 10, 11, 12, 13, 14, 15, 16, 17], new SamplingOptions(MaxNewTokens: 9, Temperature: 0.9, Seed: 5)),
            new GenerationRequest([11], SamplingOptions.Greedy(6)),
        };
        var logProbs = requests.Select(_ => new List<float>()).ToArray();

        var continuous = Decode(model, requests, joinAt: [0, 1, 2, 4], slots: 3, logProbs);

        for (var i = 0; i < requests.Length; i++)
        {
            var alone = Sampler.Generate(model, [requests[i]], [], padTokenId: 0)[0];
            Assert.Equal(alone.TokenIds, continuous[i]);
            for (var t = 0; t < alone.LogProbs.Count; t++)
                Assert.True(Math.Abs(alone.LogProbs[t] - logProbs[i][t]) < 1e-4, $"row {i} token {t}: {alone.LogProbs[t]} vs {logProbs[i][t]}");
        }
    }

    [Fact]
    public void A_released_slot_is_reused_and_the_moved_row_keeps_its_sequence()
    {
        using var model = TinyModels.Policy();
        using var decoder = new ContinuousDecoder(model.Config, slots: 2, capacity: 32, CPU);
        var longRow = new GenerationRequest([3, 4, 5], SamplingOptions.Greedy(10));
        var expected = Sampler.Generate(model, [longRow], [], 0)[0].TokenIds;

        var shortFirst = decoder.Admit(model, [1, 2], [SamplingOptions.Greedy(5)])[0].Row;
        var tokens = new List<int> { decoder.Admit(model, longRow.PromptTokenIds, [longRow.Sampling])[0].TokenId };
        Assert.Equal(0, decoder.FreeSlots);
        tokens.Add(decoder.Step(model).Single(s => s.Row.PromptLength == 3).TokenId);
        decoder.Release(shortFirst);          // the long row moves from slot 1 into slot 0
        Assert.Equal(1, decoder.FreeSlots);
        var third = decoder.Admit(model, [6], [SamplingOptions.Greedy(4)]);
        Assert.Single(third);
        while (tokens.Count < 10)
            tokens.Add(decoder.Step(model).Single(s => s.Row.PromptLength == 3).TokenId);

        Assert.Equal(expected, tokens);
    }

    [Fact]
    public void Top_log_probs_are_the_most_likely_tokens_of_the_sampling_distribution()
    {
        using var model = TinyModels.Policy();
        using var decoder = new ContinuousDecoder(model.Config, slots: 1, capacity: 16, CPU);

        var first = decoder.Admit(model, [1, 2, 3], [SamplingOptions.Greedy(4)], topLogProbs: 3)[0];

        Assert.Equal(3, first.Top.Count);
        Assert.Equal(first.TokenId, first.Top[0].TokenId);
        Assert.Equal(first.LogProb, first.Top[0].LogProb);
        Assert.True(first.Top[0].LogProb >= first.Top[1].LogProb && first.Top[1].LogProb >= first.Top[2].LogProb);
    }
}
