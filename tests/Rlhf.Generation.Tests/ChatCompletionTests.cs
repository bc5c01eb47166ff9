using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Generation.Tests.Support;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

/// <summary>One host on a tiny random policy, shared by the tests of this class.</summary>
public sealed class SharedGenerationHost : IAsyncLifetime
{
    public TinyPolicy Policy { get; } = new();

    public GenerationHost Host { get; private set; } = null!;

    public ValueTask InitializeAsync()
    {
        Host = new GenerationHost(Policy.Directory);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        Policy.Dispose();
    }
}

public sealed class ChatCompletionTests(SharedGenerationHost fixture) : IClassFixture<SharedGenerationHost>
{
    readonly GenerationHost host = fixture.Host;

    [Fact]
    public async Task Completion_with_n_4_returns_four_rollouts_of_one_group()
    {
        var correlationId = Guid.NewGuid();
        var reply = await host.ChatAsync(GenerationHost.UserChat("What is 2+3?", new { n = 4, max_tokens = 12, seed = 7, user = "user-42" }),
            correlationId);

        Assert.Equal(HttpStatusCode.OK, reply.Status);
        var body = reply.Json;
        var groupId = body.GetProperty("id").GetString()!;
        Assert.StartsWith("chatcmpl-", groupId);
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
        Assert.Equal(GenerationHost.Model, body.GetProperty("model").GetString());
        Assert.Equal("policy-v0", body.GetProperty("system_fingerprint").GetString());
        Assert.InRange(body.GetProperty("created").GetInt64(), DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        Assert.Equal(4, reply.Choices.Count);
        Assert.Equal([0, 1, 2, 3], reply.Choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.All(reply.Choices, c => Assert.Equal("assistant", c.GetProperty("message").GetProperty("role").GetString()));
        var rolloutIds = Enumerable.Range(0, 4).Select(reply.RolloutId).ToList();
        Assert.Equal(4, rolloutIds.Distinct().Count());

        // Stored as one group, field by field.
        var promptText = TinyPolicy.PromptFor("What is 2+3?");
        var promptIds = TinyPolicy.Tokenizer.Encode(promptText);
        var stored = await host.Services.GetRequiredService<IRolloutStore>().GetGroupAsync(groupId, TestContext.Current.CancellationToken);
        Assert.Equal(rolloutIds, stored.Select(r => r.RolloutId));
        for (var i = 0; i < 4; i++)
        {
            var rollout = stored[i];
            var finishReason = reply.Choices[i].GetProperty("finish_reason").GetString();
            Assert.Equal(i, rollout.ChoiceIndex);
            Assert.Equal(4, rollout.GroupSize);
            Assert.Equal(0, rollout.PolicyVersion);
            Assert.Equal(promptText, rollout.PromptText);
            Assert.Equal(promptIds, rollout.PromptTokenIds);
            Assert.Equal(reply.Content(i), rollout.ResponseText);
            Assert.Equal(finishReason, rollout.FinishReason);
            Assert.Equal(rollout.ResponseTokenIds.Count, rollout.BehaviourLogProbs.Count);
            Assert.All(rollout.BehaviourLogProbs, p => Assert.True(p <= 0 && float.IsFinite(p), $"log-prob {p}"));
            if (finishReason == "length")
                Assert.Equal(12, rollout.ResponseTokenIds.Count);
            else
                Assert.Equal(TinyPolicy.Tokenizer.EosId, rollout.ResponseTokenIds[^1]);
            Assert.Equal(TinyPolicy.Tokenizer.Decode(rollout.ResponseTokenIds, skipSpecialTokens: true), rollout.ResponseText);
            Assert.Equal(new Contracts.SamplingParameters(1, 1, 0, 12, 7, []) with { Stop = rollout.Sampling.Stop }, rollout.Sampling);
            Assert.Empty(rollout.Sampling.Stop);
            Assert.Equal("user-42", rollout.UserId);
            Assert.Null(rollout.ClientId);
        }

        var usage = body.GetProperty("usage");
        Assert.Equal(promptIds.Count, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(stored.Sum(r => r.ResponseTokenIds.Count), usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(promptIds.Count + stored.Sum(r => r.ResponseTokenIds.Count), usage.GetProperty("total_tokens").GetInt32());

        // Published once per choice, with the request's correlation id.
        var published = await host.Published.WaitForCountAsync<RolloutGenerated>(4, r => r.GroupId == groupId);
        Assert.Equal(rolloutIds.Order(), published.Select(p => p.Message.RolloutId).Order());
        Assert.All(published, p => Assert.Equal(correlationId, p.CorrelationId));
        Assert.Equal(stored.Select(r => r.ResponseText), published.OrderBy(p => p.Message.ChoiceIndex).Select(p => p.Message.ResponseText));
    }

    [Fact]
    public async Task Seed_makes_sampling_reproducible_and_candidate_i_uses_seed_plus_i()
    {
        var first = await host.ChatAsync(GenerationHost.UserChat("Tell me a story", new { seed = 123, max_tokens = 24 }));
        var again = await host.ChatAsync(GenerationHost.UserChat("Tell me a story", new { seed = 123, max_tokens = 24 }));
        var pair = await host.ChatAsync(GenerationHost.UserChat("Tell me a story", new { seed = 122, n = 2, max_tokens = 24 }));
        var other = await host.ChatAsync(GenerationHost.UserChat("Tell me a story", new { seed = 9_999, max_tokens = 24 }));

        Assert.Equal(first.Content(), again.Content());
        Assert.Equal(first.Content(), pair.Content(1));
        Assert.NotEqual(first.Content(), other.Content());
        Assert.NotEqual(first.RolloutId(), again.RolloutId());
    }

    [Fact]
    public async Task Greedy_decoding_is_deterministic_and_matches_the_checkpoint()
    {
        var three = await host.ChatAsync(GenerationHost.UserChat("Hello", new { temperature = 0, n = 3, max_tokens = 20 }));
        var one = await host.ChatAsync(GenerationHost.UserChat("Hello", new { temperature = 0, max_tokens = 20 }));

        Assert.Equal(HttpStatusCode.OK, three.Status);
        Assert.Equal(three.Content(0), three.Content(1));
        Assert.Equal(three.Content(0), three.Content(2));
        Assert.Equal(three.Content(0), one.Content());
        Assert.Equal(fixture.Policy.GreedyText("Hello", 20), one.Content());
    }

    [Fact]
    public async Task Stop_string_truncates_the_text_before_it()
    {
        // The model is random: take a seeded answer, then ask again with the same seed, stopping on a character from its middle.
        string? full = null;
        foreach (var (prompt, seed) in new[] { ("Hi", 11), ("Count to ten", 12), ("Name a colour", 13), ("Why?", 14), ("Say something", 15) })
        {
            var reply = await host.ChatAsync(GenerationHost.UserChat(prompt, new { seed, max_tokens = 40 }));
            var text = reply.Content();
            var index = Enumerable.Range(text.Length / 2, text.Length - text.Length / 2)
                .FirstOrDefault(i => i > 0 && text[i] != '\uFFFD' && !char.IsSurrogate(text[i]), -1);
            if (index < 0)
                continue;
            full = text;
            var stop = text[index].ToString();
            var stopped = await host.ChatAsync(GenerationHost.UserChat(prompt, new { seed, max_tokens = 40, stop = new[] { "\u0001never", stop } }));

            Assert.Equal(HttpStatusCode.OK, stopped.Status);
            Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], stopped.Content());
            Assert.Equal("stop", stopped.Choices[0].GetProperty("finish_reason").GetString());
            var rollout = await host.Services.GetRequiredService<IRolloutStore>().GetAsync(stopped.RolloutId(), TestContext.Current.CancellationToken);
            Assert.Equal(["\u0001never", stop], rollout!.Sampling.Stop);
            Assert.Contains(stop, TinyPolicy.Tokenizer.Decode(rollout.ResponseTokenIds, skipSpecialTokens: true), StringComparison.Ordinal);
            break;
        }

        Assert.NotNull(full);
    }

    [Fact]
    public async Task Models_lists_the_model_with_its_policy_version()
    {
        var body = System.Text.Json.JsonDocument.Parse(await host.Client.GetStringAsync("/v1/models", TestContext.Current.CancellationToken)).RootElement;

        Assert.Equal("list", body.GetProperty("object").GetString());
        var model = Assert.Single(body.GetProperty("data").EnumerateArray());
        Assert.Equal(GenerationHost.Model, model.GetProperty("id").GetString());
        Assert.Equal("model", model.GetProperty("object").GetString());
        Assert.Equal(0, model.GetProperty("policy_version").GetInt64());
    }

    [Fact]
    public async Task Unknown_model_is_404_and_nothing_is_generated()
    {
        var before = (await host.StatusAsync()).GetProperty("requests_served").GetInt64();

        var reply = await host.ChatAsync(new { model = "gpt-4o", messages = new[] { new { role = "user", content = "hi" } } });

        Assert.Equal(HttpStatusCode.NotFound, reply.Status);
        Assert.Contains("gpt-4o", reply.ErrorMessage);
        Assert.Equal("model_not_found", reply.Error.GetProperty("code").GetString());
        Assert.Equal(before, (await host.StatusAsync()).GetProperty("requests_served").GetInt64());
    }

    [Fact]
    public async Task Text_content_parts_and_the_developer_role_are_accepted()
    {
        var reply = await host.ChatAsync("""
            {"model":"rlhf-policy","max_tokens":4,"messages":[
              {"role":"developer","content":"Be brief."},
              {"role":"user","content":[{"type":"text","text":"Hel"},{"type":"text","text":"lo"}]}]}
            """);

        Assert.Equal(HttpStatusCode.OK, reply.Status);
        var rollout = await host.Services.GetRequiredService<IRolloutStore>().GetAsync(reply.RolloutId(), TestContext.Current.CancellationToken);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", rollout!.PromptText);
    }
}
