using System.Security.Cryptography;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Generation.Tests.Support;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Storage;
using Rlhf.Testing;
using static TorchSharp.torch;

namespace Rlhf.Generation.Tests;

/// <summary>LoRA adapter versions (<c>safetensors-lora</c> blobs): served on the base (shared or merged), refused on another base, rolled back between.</summary>
public sealed class AdapterServingTests : IDisposable
{
    const string Prompt = "Which adapter are you?";
    const int MaxTokens = 16;

    static readonly PolicyMetrics Metrics = new(0.01, 0.5, 0.1, 0.2, null, 0.05, 64, null, null, null);

    readonly TinyPolicy basePolicy = new(seed: 21);
    readonly TinyPolicy otherBase = new(seed: 22);

    public void Dispose()
    {
        basePolicy.Dispose();
        otherBase.Dispose();
    }

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static object Greedy => GenerationHost.UserChat(Prompt, new { temperature = 0, max_tokens = MaxTokens });

    static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Adapters (rank 4, every projection) on <paramref name="on"/> with B drawn large enough to change what greedy decoding says.</summary>
    static byte[] Adapter(TinyPolicy on, int seed)
    {
        TorchRuntime.Seed(seed);
        using var model = ModelCheckpoint.LoadPolicy(on.Directory);
        var options = new LoraOptions(4, 8) { TargetModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] };
        model.AttachLora(options);
        using (no_grad())
        {
            foreach (var (_, layer) in model.NamedProjections().Where(p => p.Layer.HasLora))
                nn.init.normal_(layer.LoraB!, 0, 0.5);
        }

        using var adapter = LoraAdapter.From(model, options);
        return LoraAdapterBlob.Write(adapter);
    }

    /// <summary>What greedy decoding of the base with these adapters merged answers, computed here with the sampler directly.</summary>
    string ExpectedText(byte[] adapter)
    {
        using var model = PolicyWeightsBlob.Load(basePolicy.Directory, adapter, LoraAdapterBlob.Format, Sha256(basePolicy.WeightsBytes()));
        var tokenizer = TinyPolicy.Tokenizer;
        var sequence = Sampler.Generate(model, [new GenerationRequest(tokenizer.Encode(TinyPolicy.PromptFor(Prompt)), SamplingOptions.Greedy(MaxTokens))],
            [tokenizer.EosId], tokenizer.PadId)[0];
        var tokens = sequence.Finish == FinishReason.Stop ? sequence.TokenIds.Take(sequence.TokenIds.Count - 1) : sequence.TokenIds;
        return tokenizer.Decode(tokens, skipSpecialTokens: true);
    }

    /// <summary>The learner's release path for an adapter version: blob, registry record (promoted), then the signal.</summary>
    static async Task<BlobReference> PublishAdapterAsync(GenerationHost host, long version, byte[] adapter, string baseSha256, bool isRollback = false)
    {
        var blob = await host.Services.GetRequiredService<IBlobStore>().PutAsync($"policy/{version}", adapter, LoraAdapterBlob.Format, Cancel);
        blob = blob with { BaseSha256 = baseSha256 };
        var registry = host.Services.GetRequiredService<IModelRegistry>();
        await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, version - 1, blob, new Dictionary<string, double>(), DateTimeOffset.UtcNow), Cancel);
        await registry.PromoteAsync(ModelKind.Policy, version, Cancel);
        await host.Services.GetRequiredService<IBus>().Publish(new PolicyUpdated(version, version - 1, blob, Metrics, isRollback, DateTimeOffset.UtcNow), Cancel);
        return blob;
    }

    [Theory]
    [InlineData("Shared")]
    [InlineData("Merged")]
    public async Task An_adapter_version_on_the_served_base_is_served_with_its_adapters_applied(string serving)
    {
        await using var host = new GenerationHost(basePolicy.Directory, new Dictionary<string, string?> { ["Generation:LoraServing"] = serving });
        var adapter = Adapter(basePolicy, seed: 1);
        var expected = ExpectedText(adapter);
        Assert.NotEqual(basePolicy.GreedyText(Prompt, MaxTokens), expected); // the adapters change the answer, so serving them is visible

        await PublishAdapterAsync(host, 1, adapter, Sha256(basePolicy.WeightsBytes()));
        var status = await host.WaitForStatusAsync(s => s.GetProperty("policy_swaps").GetInt64() == 1);

        Assert.Equal(1, status.GetProperty("policy_version").GetInt64());
        Assert.Equal(0, status.GetProperty("policy_refusals").GetInt64());
        var reply = await host.ChatAsync(Greedy);
        Assert.Equal("policy-v1", reply.Json.GetProperty("system_fingerprint").GetString());
        Assert.Equal(expected, reply.Content());
    }

    [Fact]
    public async Task An_adapter_trained_on_another_base_is_refused_and_the_champion_keeps_serving()
    {
        await using var host = new GenerationHost(basePolicy.Directory);
        var foreign = Adapter(otherBase, seed: 2);

        await PublishAdapterAsync(host, 1, foreign, Sha256(otherBase.WeightsBytes()));
        var status = await host.WaitForStatusAsync(s => s.GetProperty("policy_refusals").GetInt64() == 1);

        Assert.Equal(0, status.GetProperty("policy_version").GetInt64());
        var why = status.GetProperty("last_policy_refusal").GetString()!;
        Assert.Contains("policy 1 as champion: base mismatch", why, StringComparison.Ordinal);
        Assert.Contains(Sha256(otherBase.WeightsBytes())[..12], why, StringComparison.Ordinal);
        var reply = await host.ChatAsync(Greedy);
        Assert.Equal("policy-v0", reply.Json.GetProperty("system_fingerprint").GetString());
        Assert.Equal(basePolicy.GreedyText(Prompt, MaxTokens), reply.Content());
    }

    [Fact]
    public async Task Rollback_between_two_adapter_versions_serves_each_one_in_turn()
    {
        await using var host = new GenerationHost(basePolicy.Directory);
        var baseSha = Sha256(basePolicy.WeightsBytes());
        var first = Adapter(basePolicy, seed: 3);
        var second = Adapter(basePolicy, seed: 4);
        var (firstText, secondText) = (ExpectedText(first), ExpectedText(second));
        Assert.NotEqual(firstText, secondText);

        var firstBlob = await PublishAdapterAsync(host, 1, first, baseSha);
        await host.WaitForStatusAsync(s => s.GetProperty("policy_swaps").GetInt64() == 1);
        await PublishAdapterAsync(host, 2, second, baseSha);
        await host.WaitForStatusAsync(s => s.GetProperty("policy_swaps").GetInt64() == 2);
        Assert.Equal(secondText, (await host.ChatAsync(Greedy)).Content());

        // The rollback command's steps: promote the older version in the registry, publish PolicyUpdated with IsRollback.
        await host.Services.GetRequiredService<IModelRegistry>().PromoteAsync(ModelKind.Policy, 1, Cancel);
        await host.Services.GetRequiredService<IBus>().Publish(new PolicyUpdated(1, 0, firstBlob, Metrics, IsRollback: true, DateTimeOffset.UtcNow), Cancel);
        var status = await host.WaitForStatusAsync(s => s.GetProperty("policy_swaps").GetInt64() == 3);

        Assert.Equal(1, status.GetProperty("policy_version").GetInt64());
        var reply = await host.ChatAsync(Greedy);
        Assert.Equal("policy-v1", reply.Json.GetProperty("system_fingerprint").GetString());
        Assert.Equal(firstText, reply.Content());
    }
}
