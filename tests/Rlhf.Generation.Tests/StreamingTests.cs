using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;
using Rlhf.Generation.Tests.Support;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

public sealed class StreamingTests(SharedGenerationHost fixture) : IClassFixture<SharedGenerationHost>
{
    readonly GenerationHost host = fixture.Host;

    [Fact]
    public async Task Streaming_sends_chunks_then_done_with_the_same_text_as_a_plain_response()
    {
        var plain = await host.ChatAsync(GenerationHost.UserChat("Stream me", new { seed = 5, max_tokens = 16 }));
        var reply = await host.ChatAsync(GenerationHost.UserChat("Stream me",
            new { seed = 5, max_tokens = 16, stream = true, stream_options = new { include_usage = true } }));

        Assert.Equal(HttpStatusCode.OK, reply.Status);
        Assert.Equal("text/event-stream", reply.ContentType?.MediaType);
        var events = reply.Body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.All(chunks, c => Assert.Equal("policy-v0", c.GetProperty("system_fingerprint").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());

        var choiceChunks = chunks.Where(c => c.GetProperty("choices").GetArrayLength() == 1).Select(c => c.GetProperty("choices")[0]).ToList();
        Assert.Equal("assistant", choiceChunks[0].GetProperty("delta").GetProperty("role").GetString());
        var content = string.Concat(choiceChunks.Select(c => c.GetProperty("delta").TryGetProperty("content", out var part) ? part.GetString() : ""));
        Assert.Equal(plain.Content(), content);
        Assert.Equal(plain.Choices[0].GetProperty("finish_reason").GetString(), choiceChunks[^1].GetProperty("finish_reason").GetString());
        Assert.All(choiceChunks[..^1], c => Assert.Equal(JsonValueKind.Null, c.GetProperty("finish_reason").ValueKind));

        var rolloutId = Assert.Single(choiceChunks.Select(c => c.GetProperty("rollout_id").GetGuid()).Distinct());
        var rollout = await host.Services.GetRequiredService<IRolloutStore>().GetAsync(rolloutId, TestContext.Current.CancellationToken);
        Assert.Equal(content, rollout!.ResponseText);
        Assert.Equal(chunks[0].GetProperty("id").GetString(), rollout.GroupId);
        var usage = chunks[^1].GetProperty("usage");
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        Assert.Equal(rollout.PromptTokenIds.Count + rollout.ResponseTokenIds.Count, usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Streaming_with_n_2_finishes_both_choices()
    {
        var reply = await host.ChatAsync(GenerationHost.UserChat("Two please", new { n = 2, max_tokens = 8, stream = true }));

        var chunks = reply.Body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[..^1]
            .Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement.GetProperty("choices")[0]).ToList();
        var finished = chunks.Where(c => c.GetProperty("finish_reason").ValueKind == JsonValueKind.String).ToList();
        Assert.Equal([0, 1], finished.Select(c => c.GetProperty("index").GetInt32()));
        Assert.Equal(2, chunks.Select(c => c.GetProperty("rollout_id").GetGuid()).Distinct().Count());
    }

    ChatClient SdkClient() => new(GenerationHost.Model, new ApiKeyCredential(GenerationHost.ClientKey), new OpenAIClientOptions
    {
        Endpoint = new Uri(host.BaseAddress, "v1"),
        Transport = new HttpClientPipelineTransport(host.CreateClient()),
    });

    [Fact]
    public async Task The_official_OpenAI_sdk_completes_a_chat()
    {
        var expected = fixture.Policy.GreedyText("Hello from the SDK", 12);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12, EndUserId = "sdk-user" };

        ClientResult<ChatCompletion> result = await SdkClient().CompleteChatAsync(
            [new UserChatMessage("Hello from the SDK")], options, TestContext.Current.CancellationToken);
        var completion = result.Value;

        Assert.Equal(expected, completion.Content.Count == 0 ? "" : completion.Content[0].Text);
        Assert.Equal("policy-v0", completion.SystemFingerprint);
        Assert.StartsWith("chatcmpl-", completion.Id);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal(TinyPolicy.Tokenizer.Encode(TinyPolicy.PromptFor("Hello from the SDK")).Count, completion.Usage.InputTokenCount);
        // The extension field is in the raw JSON for clients that want it.
        var raw = JsonDocument.Parse(result.GetRawResponse().Content.ToString()).RootElement;
        var rolloutId = raw.GetProperty("choices")[0].GetProperty("rollout_id").GetGuid();
        var rollout = await host.Services.GetRequiredService<IRolloutStore>().GetAsync(rolloutId, TestContext.Current.CancellationToken);
        Assert.Equal(completion.Id, rollout!.GroupId);
        Assert.Equal("sdk-user", rollout.UserId);
        Assert.Equal(expected, rollout.ResponseText);
    }

    [Fact]
    public async Task The_official_OpenAI_sdk_streams_a_chat()
    {
        var expected = fixture.Policy.GreedyText("Stream via the SDK", 12);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 };

        var text = new StringBuilder();
        var fingerprints = new HashSet<string?>();
        ChatFinishReason? finish = null;
        await foreach (var update in SdkClient().CompleteChatStreamingAsync([new UserChatMessage("Stream via the SDK")], options,
                           TestContext.Current.CancellationToken))
        {
            foreach (var part in update.ContentUpdate)
                text.Append(part.Text);
            fingerprints.Add(update.SystemFingerprint);
            finish ??= update.FinishReason;
        }

        Assert.Equal(expected, text.ToString());
        Assert.Equal(["policy-v0"], fingerprints);
        Assert.NotNull(finish);
    }
}
