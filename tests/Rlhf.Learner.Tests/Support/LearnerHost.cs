using System.Text.Json;
using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Rlhf.Hosting;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests.Support;

/// <summary>Store instances that outlive one host, so a restarted learner sees what the first one wrote.</summary>
public sealed class SharedStores(IRolloutStore rollouts, IClaimStore claims, IModelRegistry registry, IBlobStore blobs)
{
    public SharedStores()
        : this(new InMemoryRolloutStore(TimeSpan.FromHours(1), TimeProvider.System), new InMemoryClaimStore(TimeProvider.System),
            new InMemoryModelRegistry(), new InMemoryBlobStore())
    {
    }

    public IRolloutStore Rollouts { get; } = rollouts;
    public IClaimStore Claims { get; } = claims;
    public IModelRegistry Registry { get; } = registry;
    public IBlobStore Blobs { get; } = blobs;

    public void Register(IServiceCollection services)
    {
        services.RemoveAll<IRolloutStore>().AddSingleton(Rollouts);
        services.RemoveAll<IClaimStore>().AddSingleton(Claims);
        services.RemoveAll<IModelRegistry>().AddSingleton(Registry);
        services.RemoveAll<IBlobStore>().AddSingleton(Blobs);
    }
}

/// <summary>
/// The learner service in process (WebApplicationFactory) on the in-memory bus and shared in-memory stores, with a
/// log of everything its bus publishes (registered before it starts, so publishes made while starting are in it).
/// </summary>
public sealed class LearnerHost : IAsyncDisposable
{
    readonly WebApplicationFactory<Program> factory;

    public LearnerHost(IReadOnlyDictionary<string, string?> settings, SharedStores? stores = null)
    {
        factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            foreach (var (key, value) in settings)
                web.UseSetting(key, value);
            web.ConfigureServices(services =>
            {
                services.AddPublishedMessages(Events);
                services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
            });
            if (stores is not null)
                web.ConfigureTestServices(stores.Register);
        });
        Client = factory.CreateClient();
    }

    /// <summary>Settings of a learner on <paramref name="policy"/> with a small batch and fast PPO.</summary>
    public static Dictionary<string, string?> Settings(TinyPolicy policy, string stateDirectory, int batchSize = 4) => new()
    {
        ["Bus:Transport"] = "InMemory",
        ["Learner:ModelPath"] = policy.Directory,
        ["Learner:StateDirectory"] = stateDirectory,
        ["Learner:BatchSize"] = batchSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Learner:BatchTimeLimit"] = "00:00:30",
        ["Learner:DemonstrationBatchSize"] = "2",
        ["Learner:DemonstrationBatchTimeLimit"] = "00:00:30",
        ["Learner:Threads"] = "1",
        ["Learner:Device"] = "cpu",
        ["Learner:EvalSamples"] = "2",
        ["Learner:EvalMaxNewTokens"] = "8",
        ["Learner:Ppo:Epochs"] = "2",
        ["Learner:Ppo:MiniBatchSize"] = "2",
        ["Learner:Ppo:Actor:LearningRate"] = "0.001",
        ["Learner:Ppo:Critic:LearningRate"] = "0.001",
        ["Learner:Sft:Optimizer:LearningRate"] = "0.001",
    };

    /// <summary>What the host's bus published (the test's own messages included), recorded as each publish completed.</summary>
    public MessageLog Events { get; } = new();

    public HttpClient Client { get; }

    public T Service<T>() where T : notnull => factory.Services.GetRequiredService<T>();

    public Task PublishAsync<T>(T message) where T : class =>
        Service<IBus>().Publish(message, TestContext.Current.CancellationToken);

    public async Task PublishAllAsync<T>(IEnumerable<T> messages) where T : class
    {
        foreach (var message in messages)
            await PublishAsync(message);
    }

    public async Task<JsonElement> StatusAsync() =>
        JsonDocument.Parse(await Client.GetStringAsync("/v1/learner/status", TestContext.Current.CancellationToken)).RootElement;

    public async Task<JsonElement> VersionsAsync() =>
        JsonDocument.Parse(await Client.GetStringAsync("/v1/models/versions", TestContext.Current.CancellationToken)).RootElement;

    /// <summary>Polls the status until <paramref name="done"/> holds; fails after the timeout with the last status.</summary>
    public async Task<JsonElement> WaitForStatusAsync(Func<JsonElement, bool> done, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var status = await StatusAsync();
            if (done(status))
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"The learner status never matched; last: {status}");
            await Task.Delay(25, TestContext.Current.CancellationToken);
        }
    }

    public Task<JsonElement> WaitUntilReadyAsync() => WaitForStatusAsync(s => s.GetProperty("phase").GetString() == "ready");

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await factory.DisposeAsync();
    }
}
