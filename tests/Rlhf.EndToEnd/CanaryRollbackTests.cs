using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Rlhf.Cli.Embedded;
using Rlhf.Testing;

namespace Rlhf.EndToEnd;

/// <summary>
/// Guarded release across separate hosts over RabbitMQ and Redis, through the public HTTP APIs: two generation replicas,
/// feedback, reward and a learner with the canary on. The first trained candidate goes on canary and both replicas serve
/// it to their share of users; the users' thumbs rate the canary's answers down and the champion's up; the learner rolls
/// the canary back by itself, and then every replica serves the champion again and no user gets the rolled-back version.
/// </summary>
public sealed class CanaryRollbackTests : IDisposable
{
    const string ApiKey = "canary-e2e-key";
    readonly string directory = Path.Combine(Path.GetTempPath(), $"rlhf-canary-e2e-{Guid.NewGuid():N}");

    public CanaryRollbackTests() => TinyPolicy.Save(Path.Combine(directory, "policy"), seed: 5);

    public void Dispose()
    {
        if (Environment.GetEnvironmentVariable("KEEP_E2E") is null)
            TestDirectory.Delete(directory);
    }

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_canary_rated_worse_by_users_is_rolled_back_and_every_replica_serves_the_champion_again()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Generation:ModelPath"] = Path.Combine(directory, "policy"),
            ["Generation:MaxTokensLimit"] = "16",
            ["Generation:DefaultMaxTokens"] = "16",
            ["Generation:CanaryShare"] = "0.5",
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
            ["Learner:QueuePrefix"] = $"e2e-canary-{Guid.NewGuid():N}",
            ["Learner:Canary:Enabled"] = "true",
            ["Learner:Canary:MinFeedback"] = "4",
            ["Learner:Canary:MaxFeedback"] = "100",
            ["Learner:Canary:MaxRegression"] = "0.05",
            ["Feedback:RaterRateLimit"] = "1000000",
            ["Redis:Configuration"] = TestInfrastructure.Redis,
            ["Redis:KeyPrefix"] = $"rlhf-e2e-canary:{Guid.NewGuid():N}:",
        };
        foreach (var (key, value) in TestInfrastructure.RabbitMqSettings())
            if (key.StartsWith("Bus:", StringComparison.Ordinal))
                settings[key] = value;

        var hosts = new List<WebApplication>();
        async Task<HttpClient> StartAsync(PlatformServices service)
        {
            var host = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, settings, ApiKey, events: null, service);
            hosts.Add(host);
            await host.StartAsync(Cancel);
            return new HttpClient { BaseAddress = new Uri(host.Urls.First()) };
        }

        try
        {
            using var replicaA = await StartAsync(PlatformServices.Generation);
            using var replicaB = await StartAsync(PlatformServices.Generation);
            using var feedback = await StartAsync(PlatformServices.Feedback);
            (await StartAsync(PlatformServices.Reward)).Dispose();
            using var learner = await StartAsync(PlatformServices.Learner);

            // One ranked request: RM v1 scores its rollouts, the learner's batch of 4 becomes candidate v1, which passes the
            // gate (finite weights, KL) and goes on canary instead of being promoted.
            var first = await ChatAsync(replicaA, "user-0", n: 4);
            var ids = first["choices"]!.AsArray().Select(c => c!["rollout_id"]!.GetValue<string>()).ToList();
            await PostAsync(feedback, "/v1/feedback/rankings", new { group_id = first["id"]!.GetValue<string>(), ranking = new[] { new[] { ids[0] }, new[] { ids[1], ids[2] }, new[] { ids[3] } }, rater_id = "e2e" });
            await WaitUntilAsync(async () => await CanaryOfAsync(replicaA) == 1 && await CanaryOfAsync(replicaB) == 1);

            // Users rate what they were shown: every canary's answers down, the champion's up, until the learner rolled
            // v1 back and neither replica serves it. (The learner keeps training, so a later candidate can go on canary
            // while this runs; it is rated down too, so nothing but v0 is ever promoted.)
            var seen = new HashSet<string>();
            var rated = 0;
            await WaitUntilAsync(async () =>
            {
                var replica = rated % 2 == 0 ? replicaA : replicaB;
                var reply = await ChatAsync(replica, $"user-{rated}");
                seen.Add(reply["system_fingerprint"]!.GetValue<string>());
                var rollout = reply["choices"]![0]!["rollout_id"]!.GetValue<string>();
                var thumb = reply["system_fingerprint"]!.GetValue<string>() == "policy-v0" ? 1 : 0;
                await PostAsync(feedback, "/v1/feedback/ratings", new { rollout_id = rollout, scale = "thumbs", value = thumb, rater_id = $"rater-{rated++}" });
                var rejected = JsonNode.Parse(await learner.GetStringAsync("/v1/models/versions", Cancel))!["policy"]!["rejected"]!.AsArray()
                    .Any(r => r!["version"]!.GetValue<long>() == 1);
                return rejected && await CanaryOfAsync(replicaA) != 1 && await CanaryOfAsync(replicaB) != 1;
            });

            Assert.Contains("policy-v1", seen);
            Assert.Contains("policy-v0", seen);
            var versions = JsonNode.Parse(await learner.GetStringAsync("/v1/models/versions", Cancel))!["policy"]!;
            Assert.Equal(0, versions["promoted_version"]!.GetValue<long>());
            var rejected = versions["rejected"]!.AsArray().Single(r => r!["version"]!.GetValue<long>() == 1)!;
            Assert.StartsWith("canary rolled back: worse:", rejected["reason"]!.GetValue<string>());
            // Both replicas serve the champion again, and nobody gets the rolled-back version. (The learner keeps training:
            // its next gate-passing candidate may already be the next canary, v2 or later.)
            foreach (var replica in new[] { replicaA, replicaB })
            {
                var status = JsonNode.Parse(await replica.GetStringAsync("/v1/generation/status", Cancel))!;
                Assert.Equal(0, status["champion"]!["version"]!.GetValue<long>());
                Assert.NotEqual(1, status["canary"]?["version"]?.GetValue<long>());
                for (var user = 0; user < 12; user++)
                    Assert.NotEqual("policy-v1", (await ChatAsync(replica, $"user-{user}"))["system_fingerprint"]!.GetValue<string>());
            }
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

    static async Task<long?> CanaryOfAsync(HttpClient generation) =>
        JsonNode.Parse(await generation.GetStringAsync("/v1/generation/status", Cancel))!["canary"]?["version"]?.GetValue<long>();

    static async Task WaitUntilAsync(Func<Task<bool>> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (!await done())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(200, Cancel);
        }
    }

    static async Task PostAsync(HttpClient feedback, string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Add("X-Api-Key", ApiKey);
        var response = await feedback.SendAsync(request, Cancel);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    static async Task<JsonNode> ChatAsync(HttpClient http, string user, int n = 2)
    {
        var response = await http.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "rlhf-policy",
            messages = new[] { new { role = "user", content = "What is 2 + 3?" } },
            n,
            max_tokens = 8,
            temperature = 1.0,
            user,
        }, Cancel);
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(Cancel))!;
    }
}
