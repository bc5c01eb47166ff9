using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Rlhf.Cli.Embedded;
using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;
using Rlhf.Testing;

namespace Rlhf.EndToEnd;

/// <summary>
/// The online loop through the public HTTP APIs only: a chat request with n = 4 is served and its rollouts stored and
/// published, a ranking is accepted, the reward service trains RM version 1 and scores the rollouts, the learner runs
/// PPO and publishes policy version 1, and the next chat response carries the new system_fingerprint.
/// </summary>
public sealed class FullLoopTests : IDisposable
{
    const string ApiKey = "end-to-end-key";
    readonly string directory = Path.Combine(Path.GetTempPath(), $"rlhf-e2e-{Guid.NewGuid():N}");

    public FullLoopTests()
    {
        TinyPolicy.Save(Path.Combine(directory, "policy"), seed: 5);
    }

    public void Dispose()
    {
        TestDirectory.Delete(directory);
    }

    Dictionary<string, string?> Settings(string? redisPrefix) => new()
    {
        ["Generation:ModelPath"] = Path.Combine(directory, "policy"),
        ["Generation:MaxTokensLimit"] = "16",
        ["Generation:DefaultMaxTokens"] = "16",
        ["Reward:ModelPath"] = Path.Combine(directory, "policy"),
        ["Reward:TrainEvery"] = "1",
        ["Reward:StepsPerRound"] = "1",
        ["Reward:HeldOutShare"] = "0",
        ["Learner:ModelPath"] = Path.Combine(directory, "policy"),
        ["Learner:StateDirectory"] = Path.Combine(directory, "learner"),
        ["Learner:BatchSize"] = "4",
        ["Learner:BatchTimeLimit"] = "00:00:02",
        ["Learner:Ppo:MiniBatchSize"] = "4",
        ["Learner:Ppo:Epochs"] = "1",
        ["Learner:Threads"] = "1",
        ["Learner:QueuePrefix"] = $"e2e-learner-{Guid.NewGuid():N}",
        ["Redis:Configuration"] = redisPrefix is null ? null : TestInfrastructure.Redis,
        ["Redis:KeyPrefix"] = redisPrefix,
    };

    [Fact]
    public async Task Loop_runs_in_one_process_on_the_in_memory_transport()
    {
        await using var app = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, Settings(redisPrefix: null), ApiKey, events: null);
        await app.StartAsync(TestContext.Current.CancellationToken);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        await RunLoopAsync(http, http);
    }

    [Fact]
    public async Task Loop_runs_across_separate_hosts_over_rabbitmq_and_redis()
    {
        var prefix = $"rlhf-e2e:{Guid.NewGuid():N}:";
        var settings = Settings(prefix);
        foreach (var (key, value) in TestInfrastructure.RabbitMqSettings())
            if (key.StartsWith("Bus:", StringComparison.Ordinal))
                settings[key] = value;
        var hosts = new List<WebApplication>();
        var urls = new Dictionary<PlatformServices, string>();
        try
        {
            foreach (var service in new[] { PlatformServices.Generation, PlatformServices.Feedback, PlatformServices.Reward, PlatformServices.Learner })
            {
                var host = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, settings, ApiKey, events: null, service);
                hosts.Add(host);
                await host.StartAsync(TestContext.Current.CancellationToken);
                urls[service] = host.Urls.First();
            }

            using var generation = new HttpClient { BaseAddress = new Uri(urls[PlatformServices.Generation]) };
            using var feedback = new HttpClient { BaseAddress = new Uri(urls[PlatformServices.Feedback]) };
            await RunLoopAsync(generation, feedback);
        }
        finally
        {
            // As app.Run does: every bus stops (in-flight consumers finish) before any service is disposed.
            foreach (var host in hosts)
                await host.StopAsync(CancellationToken.None);
            foreach (var host in hosts)
                await host.DisposeAsync();
        }
    }

    static async Task RunLoopAsync(HttpClient generation, HttpClient feedback)
    {
        var first = await ChatAsync(generation);
        Assert.Equal("policy-v0", first["system_fingerprint"]!.GetValue<string>());
        var ids = first["choices"]!.AsArray().Select(c => c!["rollout_id"]!.GetValue<string>()).ToList();
        Assert.Equal(4, ids.Count);

        using var ranking = new HttpRequestMessage(HttpMethod.Post, "/v1/feedback/rankings")
        {
            Content = JsonContent.Create(new { group_id = first["id"]!.GetValue<string>(), ranking = new[] { new[] { ids[0] }, new[] { ids[1], ids[2] }, new[] { ids[3] } }, rater_id = "e2e" }),
        };
        ranking.Headers.Add("X-Api-Key", ApiKey);
        var accepted = await feedback.SendAsync(ranking, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);

        // RM v1 scores the four rollouts; the learner's batch of 4 becomes policy v1; generation swaps to it.
        var deadline = DateTime.UtcNow.AddSeconds(120);
        JsonNode reply;
        do
        {
            await Task.Delay(500, TestContext.Current.CancellationToken);
            reply = await ChatAsync(generation);
        }
        while (reply["system_fingerprint"]!.GetValue<string>() == "policy-v0" && DateTime.UtcNow < deadline);

        // v1 at least: on a busy machine the rollouts of the polling chats may already have made v2 by the time one lands.
        var served = reply["system_fingerprint"]!.GetValue<string>();
        Assert.Matches("^policy-v[1-9][0-9]*$", served);
    }

    static async Task<JsonNode> ChatAsync(HttpClient http)
    {
        var response = await http.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "rlhf-policy",
            messages = new[] { new { role = "user", content = "What is 2 + 3?" } },
            n = 4,
            max_tokens = 8,
            temperature = 1.0,
        }, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
    }
}
