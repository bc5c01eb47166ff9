using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Modeling.Tokenization;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

/// <summary>The reward service in process on the in-memory bus and stores, over a tiny random policy checkpoint.</summary>
public sealed class RewardTestHost : IAsyncDisposable
{
    static readonly Lazy<string> TinyCheckpoint = new(() =>
    {
        var directory = Path.Combine(Path.GetTempPath(), $"rlhf-reward-tests-{Environment.ProcessId}");
        TinyPolicy.Save(directory, seed: 3, contextLength: 128);
        return directory;
    });

    readonly WebApplicationFactory<Program> factory;

    /// <param name="settings">Configuration over the defaults above.</param>
    /// <param name="replace">Service replacements applied after the service's own registrations (a test clock).</param>
    public RewardTestHost(IReadOnlyDictionary<string, string?>? settings = null, Action<IServiceCollection>? replace = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["Bus:Transport"] = "InMemory",
            ["Reward:ModelPath"] = TinyCheckpoint.Value,
            ["Reward:TrainEvery"] = "4",
            ["Reward:StepsPerRound"] = "2",
            ["Reward:HeldOutShare"] = "0",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            all[key] = value;
        factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            foreach (var (key, value) in all)
                web.UseSetting(key, value);
            web.ConfigureServices(services => services.AddPublishedMessages(Published).AddConsumedMessages(Consumed));
            if (replace is not null)
                web.ConfigureTestServices(replace);
        });
        Client = factory.CreateClient();
    }

    /// <summary>Deletes every Redis key under <paramref name="prefix"/> (a test's own stores).</summary>
    public static async Task DeleteKeysAsync(string prefix)
    {
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(TestInfrastructure.Redis);
        foreach (var server in redis.GetServers())
        {
            var keys = new List<StackExchange.Redis.RedisKey>();
            await foreach (var key in server.KeysAsync(pattern: prefix + "*"))
                keys.Add(key);
            if (keys.Count > 0)
                await redis.GetDatabase().KeyDeleteAsync([.. keys]);
        }
    }

    /// <summary>The tiny random policy checkpoint every reward test starts from (the RM's trunk, with a fresh head).</summary>
    public static string TinyCheckpointPath => TinyCheckpoint.Value;

    /// <summary>Points the host contract tests (which build their own factory) at the tiny checkpoint.</summary>
    public static void EnsureDefaultModelPath() => Environment.SetEnvironmentVariable("Reward__ModelPath", TinyCheckpoint.Value);

    /// <summary>What the host's bus published (the test's own messages included), recorded as each publish completed.</summary>
    public MessageLog Published { get; } = new();

    /// <summary>What the host's consumers finished consuming: the signal that a message was fully processed.</summary>
    public MessageLog Consumed { get; } = new();

    public HttpClient Client { get; }

    public IServiceProvider Services => factory.Services;

    public IPublishEndpoint Bus => factory.Services.GetRequiredService<IBus>();

    /// <summary>Stores a group of n rollouts whose responses are the given texts and returns them.</summary>
    public Task<IReadOnlyList<RolloutGenerated>> SeedGroupAsync(params string[] responses) =>
        SeedNamedGroupAsync($"chatcmpl-{Guid.NewGuid():N}", responses);

    /// <summary>
    /// <see cref="SeedGroupAsync"/> under a given group id: the id decides whether the group is held out
    /// (<c>HeldOutSplit</c>), so a test that needs a known split names its groups.
    /// </summary>
    public async Task<IReadOnlyList<RolloutGenerated>> SeedNamedGroupAsync(string groupId, params string[] responses)
    {
        var tokenizer = new ByteTokenizer();
        var prompt = ChatTemplate.ChatMl.Render([new ChatTurn("user", "What is 2 + 3?")], addGenerationPrompt: true);
        var promptIds = tokenizer.Encode(prompt);
        var rollouts = responses.Select((text, i) => new RolloutGenerated(Guid.NewGuid(), groupId, i, responses.Length, 0, prompt, promptIds,
            text, tokenizer.Encode(text).Append(tokenizer.EosId).ToList(), Enumerable.Repeat(-1f, text.Length + 1).ToList(), "stop",
            new SamplingParameters(1, 1, 0, 32, null, []), "tests", null, DateTimeOffset.UtcNow)).ToList();
        await factory.Services.GetRequiredService<IRolloutStore>().SaveGroupAsync(rollouts, TestContext.Current.CancellationToken);
        return rollouts;
    }

    public ValueTask DisposeAsync()
    {
        Client.Dispose();
        return factory.DisposeAsync();
    }
}
