using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Generation.Policy;
using Rlhf.Generation.Routing;
using Rlhf.Generation.Tests.Support;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

/// <summary>Generation serves the registry's champion and canary side by side, on the in-memory bus and stores.</summary>
public sealed class CanaryServingTests : IDisposable
{
    const string Prompt = "Which version are you?";
    const int MaxTokens = 8;
    const long ChampionVersion = 1;
    const long CanaryVersion = 2;

    readonly TinyPolicy basePolicy = new();
    readonly TinyPolicy championPolicy = new(version: ChampionVersion);
    readonly TinyPolicy canaryPolicy = new(version: CanaryVersion);
    readonly TinyPolicy otherPolicy = new(version: 3);

    public void Dispose()
    {
        basePolicy.Dispose();
        championPolicy.Dispose();
        canaryPolicy.Dispose();
        otherPolicy.Dispose();
    }

    static object Greedy(string? user = null) => user is null
        ? GenerationHost.UserChat(Prompt, new { temperature = 0, max_tokens = MaxTokens })
        : GenerationHost.UserChat(Prompt, new { temperature = 0, max_tokens = MaxTokens, user });

    static long VersionOf(ChatReply reply)
    {
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        var fingerprint = reply.Json.GetProperty("system_fingerprint").GetString()!;
        Assert.StartsWith("policy-v", fingerprint);
        return long.Parse(fingerprint["policy-v".Length..], CultureInfo.InvariantCulture);
    }

    /// <summary>Behaviour log-probs of a greedy answer, computed with the sampler directly on the checkpoint.</summary>
    static IReadOnlyList<float> GreedyLogProbs(TinyPolicy policy)
    {
        using var model = ModelCheckpoint.LoadPolicy(policy.Directory);
        var prompt = TinyPolicy.Tokenizer.Encode(TinyPolicy.PromptFor(Prompt));
        return Sampler.Generate(model, [new GenerationRequest(prompt, SamplingOptions.Greedy(MaxTokens))],
            [TinyPolicy.Tokenizer.EosId], TinyPolicy.Tokenizer.PadId)[0].LogProbs;
    }

    static long? CanaryOf(JsonElement status) =>
        status.GetProperty("canary") is { ValueKind: JsonValueKind.Object } canary ? canary.GetProperty("version").GetInt64() : null;

    static long ChampionOf(JsonElement status) => status.GetProperty("champion").GetProperty("version").GetInt64();

    /// <summary>A host serving champion 1 (promoted) and canary 2, both signalled over the bus.</summary>
    async Task<GenerationHost> StartWithCanaryAsync(double share)
    {
        var host = new GenerationHost(basePolicy.Directory,
            new Dictionary<string, string?> { ["Generation:CanaryShare"] = share.ToString(CultureInfo.InvariantCulture) });
        var learner = new LearnerStandIn(host.Services);
        await learner.RegisterAsync(ChampionVersion, championPolicy);
        await learner.PromoteAsync(ChampionVersion);
        await learner.RegisterAsync(CanaryVersion, canaryPolicy);
        await learner.RegisterAsync(3, otherPolicy);
        await host.WaitForStatusAsync(s => ChampionOf(s) == ChampionVersion);
        await learner.StartCanaryAsync(CanaryVersion, ChampionVersion);
        var status = await host.WaitForStatusAsync(s => CanaryOf(s) == CanaryVersion);
        Assert.Equal(CanaryVersion, CanaryOf(status));
        Assert.Equal(ChampionVersion, ChampionOf(status));
        return host;
    }

    [Fact]
    public async Task Both_versions_answer_each_response_and_rollout_names_its_version_and_a_user_sticks_to_one_side()
    {
        await using var host = await StartWithCanaryAsync(share: 0.5);
        var expectedText = new Dictionary<long, string>
        {
            [ChampionVersion] = championPolicy.GreedyText(Prompt, MaxTokens),
            [CanaryVersion] = canaryPolicy.GreedyText(Prompt, MaxTokens),
        };
        // Tiny random models may well agree on the greedy text; their log-probs tell the weights apart.
        var expectedLogProbs = new Dictionary<long, IReadOnlyList<float>>
        {
            [ChampionVersion] = GreedyLogProbs(championPolicy),
            [CanaryVersion] = GreedyLogProbs(canaryPolicy),
        };
        Assert.NotEqual(expectedLogProbs[ChampionVersion][0], expectedLogProbs[CanaryVersion][0], 3);

        // Without a user each request is drawn on its own (its completion id).
        var anonymous = new List<ChatReply>();
        for (var i = 0; i < 40; i++)
            anonymous.Add(await host.ChatAsync(Greedy()));
        var versions = anonymous.Select(VersionOf).ToList();
        Assert.Equal([ChampionVersion, CanaryVersion], versions.Distinct().Order());
        Assert.All(anonymous, reply => Assert.Equal(expectedText[VersionOf(reply)], reply.Content()));
        var onCanary = versions.Count(v => v == CanaryVersion);
        TestContext.Current.TestOutputHelper?.WriteLine($"canary share measured: {onCanary} of {versions.Count} requests without a user");

        // Every RolloutGenerated carries the version that produced its response: its log-probs are that version's.
        var byGroup = anonymous.ToDictionary(r => r.Json.GetProperty("id").GetString()!, VersionOf);
        var rollouts = await host.Published.WaitForCountAsync<RolloutGenerated>(byGroup.Count, r => byGroup.ContainsKey(r.GroupId));
        Assert.Equal(byGroup.Count, rollouts.Count);
        Assert.All(rollouts, r => Assert.Equal(byGroup[r.Message.GroupId], r.Message.PolicyVersion));
        Assert.All(rollouts, r => Assert.Equal(expectedLogProbs[r.Message.PolicyVersion], r.Message.BehaviourLogProbs,
            (expected, actual) => Math.Abs(expected - actual) < 1e-4));

        // A user gets the same side on every request, the side the (replica-independent) router names.
        var router = new CanaryRouter(0.5);
        var users = Enumerable.Range(0, 16).Select(i => $"user-{i}").ToList();
        foreach (var user in users)
        {
            var sides = new List<long>();
            for (var i = 0; i < 3; i++)
                sides.Add(VersionOf(await host.ChatAsync(Greedy(user))));
            Assert.All(sides, side => Assert.Equal(router.Route(ChampionVersion, CanaryVersion, CanaryRouter.KeyOf(user, "unused")), side));
        }

        Assert.Contains(users, u => router.IsCanary(CanaryVersion, CanaryRouter.KeyOf(u, "unused")));
        Assert.Contains(users, u => !router.IsCanary(CanaryVersion, CanaryRouter.KeyOf(u, "unused")));
        var canaryUsers = users.Count(u => router.IsCanary(CanaryVersion, CanaryRouter.KeyOf(u, "unused")));

        // The status counts requests per version.
        var status = await host.StatusAsync();
        var byVersion = status.GetProperty("requests_by_version");
        Assert.Equal(onCanary + 3 * canaryUsers, byVersion.GetProperty("2").GetInt64());
        Assert.Equal(40 - onCanary + 3 * (16 - canaryUsers), byVersion.GetProperty("1").GetInt64());
        Assert.Equal(byVersion.GetProperty("2").GetInt64(), status.GetProperty("canary").GetProperty("requests_served").GetInt64());
        Assert.Equal("policy-v2", status.GetProperty("canary").GetProperty("system_fingerprint").GetString());
        Assert.Equal(0.5, status.GetProperty("canary_share").GetDouble());
    }

    [Fact]
    public async Task After_the_canary_is_rolled_back_every_response_is_the_champions()
    {
        await using var host = await StartWithCanaryAsync(share: 0.5);
        var learner = new LearnerStandIn(host.Services);

        await learner.ConcludeCanaryAsync(CanaryVersion, ChampionVersion, promote: false);
        // The served state and the change counter are updated one after the other: wait for both.
        var status = await host.WaitForStatusAsync(s => CanaryOf(s) is null && s.GetProperty("canary_changes").GetInt64() >= 2);

        Assert.Null(CanaryOf(status));
        Assert.Equal(ChampionVersion, ChampionOf(status));
        Assert.Equal(2, status.GetProperty("canary_changes").GetInt64());
        var replies = new List<ChatReply>();
        foreach (var user in Enumerable.Range(0, 16).Select(i => $"user-{i}"))
            replies.Add(await host.ChatAsync(Greedy(user)));
        for (var i = 0; i < 16; i++)
            replies.Add(await host.ChatAsync(Greedy()));
        Assert.All(replies, reply => Assert.Equal(ChampionVersion, VersionOf(reply)));
        Assert.All(replies, reply => Assert.Equal(championPolicy.GreedyText(Prompt, MaxTokens), reply.Content()));
    }

    [Fact]
    public async Task A_promoted_canary_becomes_the_champion_with_the_model_it_already_loaded()
    {
        await using var host = await StartWithCanaryAsync(share: 0.5);
        var learner = new LearnerStandIn(host.Services);
        var canaryLoadedAt = (await host.StatusAsync()).GetProperty("canary").GetProperty("loaded_at").GetDateTimeOffset();

        await learner.ConcludeCanaryAsync(CanaryVersion, ChampionVersion, promote: true);
        var status = await host.WaitForStatusAsync(s => CanaryOf(s) is null && ChampionOf(s) == CanaryVersion);

        Assert.Equal(CanaryVersion, ChampionOf(status));
        Assert.Null(CanaryOf(status));
        Assert.Equal(canaryLoadedAt, status.GetProperty("champion").GetProperty("loaded_at").GetDateTimeOffset());
        Assert.Equal(0, status.GetProperty("policy_refusals").GetInt64());
        var reply = await host.ChatAsync(Greedy("user-0"));
        Assert.Equal(CanaryVersion, VersionOf(reply));
        Assert.Equal(canaryPolicy.GreedyText(Prompt, MaxTokens), reply.Content());
    }

    [Fact]
    public async Task Forged_canary_signals_change_nothing()
    {
        // Share 1: a canary, if one were loaded, would answer every request.
        await using var host = new GenerationHost(basePolicy.Directory, new Dictionary<string, string?> { ["Generation:CanaryShare"] = "1" });
        var learner = new LearnerStandIn(host.Services);
        await learner.RegisterAsync(ChampionVersion, championPolicy);
        await learner.PromoteAsync(ChampionVersion);
        await learner.RegisterAsync(CanaryVersion, canaryPolicy);
        await learner.RegisterAsync(3, otherPolicy);
        await host.WaitForStatusAsync(s => ChampionOf(s) == ChampionVersion);

        // A registered version that is not the registry's canary.
        await learner.PublishAsync(new CanaryStarted(CanaryVersion, ChampionVersion, 10, DateTimeOffset.UtcNow));
        var status = await host.WaitForStatusAsync(s => s.GetProperty("policy_updates_ignored").GetInt64() == 1);
        Assert.Equal(1, status.GetProperty("policy_updates_ignored").GetInt64());
        Assert.Null(CanaryOf(status));
        Assert.Equal(ChampionVersion, VersionOf(await host.ChatAsync(Greedy("user-0"))));

        // While a real canary is live: another version named as canary, and a conclusion the registry did not make.
        await learner.StartCanaryAsync(CanaryVersion, ChampionVersion);
        await host.WaitForStatusAsync(s => CanaryOf(s) == CanaryVersion);
        await learner.PublishAsync(new CanaryStarted(3, ChampionVersion, 10, DateTimeOffset.UtcNow));
        await learner.PublishAsync(new CanaryConcluded(CanaryVersion, ChampionVersion, CanaryOutcome.RolledBack, "forged",
            LiveFeedback.Empty(CanaryVersion), LiveFeedback.Empty(ChampionVersion), DateTimeOffset.UtcNow));
        await learner.PublishAsync(new CanaryConcluded(CanaryVersion, ChampionVersion, CanaryOutcome.Promoted, "forged",
            LiveFeedback.Empty(CanaryVersion), LiveFeedback.Empty(ChampionVersion), DateTimeOffset.UtcNow));
        status = await host.WaitForStatusAsync(s => s.GetProperty("policy_updates_ignored").GetInt64() == 4);

        Assert.Equal(4, status.GetProperty("policy_updates_ignored").GetInt64());
        Assert.Equal(CanaryVersion, CanaryOf(status));
        Assert.Equal(ChampionVersion, ChampionOf(status));
        Assert.Equal(1, status.GetProperty("canary_changes").GetInt64());
        Assert.Equal(CanaryVersion, VersionOf(await host.ChatAsync(Greedy("user-0"))));
    }

    [Fact]
    public async Task At_start_generation_loads_the_promoted_version_and_the_canary_from_the_registry()
    {
        var blobs = new InMemoryBlobStore();
        var registry = new InMemoryModelRegistry();
        foreach (var (version, policy) in new[] { (ChampionVersion, championPolicy), (CanaryVersion, canaryPolicy) })
        {
            var blob = await blobs.PutAsync($"policy/{version}", policy.WeightsBytes(), PolicyLoader.WeightsFormat, TestContext.Current.CancellationToken);
            await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, version - 1, blob, new Dictionary<string, double>(),
                DateTimeOffset.UtcNow), TestContext.Current.CancellationToken);
        }

        await registry.PromoteAsync(ModelKind.Policy, ChampionVersion, TestContext.Current.CancellationToken);
        Assert.True(await registry.StartCanaryAsync(ModelKind.Policy, CanaryVersion, TestContext.Current.CancellationToken));

        await using var host = new GenerationHost(basePolicy.Directory, new Dictionary<string, string?> { ["Generation:CanaryShare"] = "1" },
            services =>
            {
                services.AddSingleton<IBlobStore>(blobs);
                services.AddSingleton<IModelRegistry>(registry);
            });
        var status = await host.StatusAsync();

        Assert.Equal(ChampionVersion, ChampionOf(status));
        Assert.Equal(CanaryVersion, CanaryOf(status));
        var reply = await host.ChatAsync(Greedy());
        Assert.Equal(CanaryVersion, VersionOf(reply));
        Assert.Equal(canaryPolicy.GreedyText(Prompt, MaxTokens), reply.Content());
    }
}
