using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Cli.Embedded;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.EndToEnd;

/// <summary>
/// Issue 20's acceptance for credentials: on a RabbitMQ node and a Redis of the test's own in the secure mode of
/// <c>scripts/infra.sh up --secure</c> (a user per service, guest deleted, Redis's default user off), generation,
/// feedback, reward, learner and the dashboard (with the archive stream under its own user) each start with the
/// credentials of their env file; a chat and a ranking go through the loop to the reward journal and to a new policy
/// version served by generation; a dashboard started with the feedback's user is refused its queues.
/// </summary>
public sealed class ServiceUsersLoopTests(OwnSecureServers fixture) : IClassFixture<OwnSecureServers>, IDisposable
{
    const string ApiKey = "users-e2e-key";
    readonly string directory = Path.Combine(Path.GetTempPath(), $"rlhf-e2e-users-{Guid.NewGuid():N}");

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public void Dispose() => TestDirectory.Delete(directory);

    Dictionary<string, string?> Settings(string user, string logFile)
    {
        var settings = new Dictionary<string, string?>
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
            ["Bus:Transport"] = "RabbitMq",
            ["Bus:RabbitMq:Host"] = "127.0.0.1",
            ["Log:File"] = Path.Combine(directory, logFile),
        };
        foreach (var (key, value) in fixture.Servers.UserSettings(user))
            settings[key] = value;
        return settings;
    }

    [Fact(Timeout = 600_000)]
    public async Task Every_service_runs_the_loop_under_its_own_user_and_a_borrowed_user_is_refused()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var servers = fixture.Servers;
        TinyPolicy.Save(Path.Combine(directory, "policy"), seed: 5);
        var hosts = new Dictionary<PlatformServices, WebApplication>();
        var urls = new Dictionary<PlatformServices, string>();
        try
        {
            foreach (var service in new[] { PlatformServices.Dashboard, PlatformServices.Generation, PlatformServices.Feedback, PlatformServices.Reward, PlatformServices.Learner })
            {
                var user = service.ToString().ToLowerInvariant();
                var settings = Settings(user, $"{user}.log");
                if (service == PlatformServices.Dashboard)
                {
                    // The dashboard declares and indexes the archive stream, as rlhf-archive (Archive:Username from dashboard.env).
                    settings["Archive:Enabled"] = "true";
                    Assert.Equal("rlhf-archive", settings["Archive:Username"]);
                }

                hosts[service] = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, settings, ApiKey, events: null, service);
                await hosts[service].StartAsync(Cancel);
                urls[service] = hosts[service].Urls.First();
            }

            using var generation = new HttpClient { BaseAddress = new Uri(urls[PlatformServices.Generation]) };
            using var feedback = new HttpClient { BaseAddress = new Uri(urls[PlatformServices.Feedback]) };
            foreach (var url in urls.Values)
                await WaitReadyAsync(url);

            var first = await ChatAsync(generation);
            Assert.Equal("policy-v0", first["system_fingerprint"]!.GetValue<string>());
            var ids = first["choices"]!.AsArray().Select(c => c!["rollout_id"]!.GetValue<string>()).ToList();
            using var ranking = new HttpRequestMessage(HttpMethod.Post, "/v1/feedback/rankings")
            {
                Content = JsonContent.Create(new { group_id = first["id"]!.GetValue<string>(), ranking = new[] { new[] { ids[0] }, new[] { ids[1], ids[2] }, new[] { ids[3] } }, rater_id = "users-e2e" }),
            };
            ranking.Headers.Add("X-Api-Key", ApiKey);
            using var accepted = await feedback.SendAsync(ranking, Cancel);
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);

            // Reward (as rlhf-reward) journals the ranking; the learner (rlhf-learner) turns the scored rollouts into
            // policy v1, which generation (rlhf-generation) serves.
            var journal = hosts[PlatformServices.Reward].Services.GetRequiredService<IFeedbackJournal>();
            await Until(async () => await journal.LengthAsync(Cancel) >= 1, "the ranking in the reward journal");
            JsonNode reply = first;
            await Until(async () => (reply = await ChatAsync(generation))["system_fingerprint"]!.GetValue<string>() != "policy-v0", "a new policy version served");
            Assert.Matches("^policy-v[1-9][0-9]*$", reply["system_fingerprint"]!.GetValue<string>());

            var (code, queues) = await servers.InfraAsync("queues");
            Assert.True(code == 0, queues);
            Assert.Contains("rlhf-archive", queues);
        }
        finally
        {
            // As app.Run does: every bus stops (in-flight consumers finish) before any service is disposed.
            foreach (var host in hosts.Values)
                await host.StopAsync(CancellationToken.None);
            foreach (var host in hosts.Values)
                await host.DisposeAsync();
        }

        // A dashboard given the feedback's credentials: the broker refuses it the dashboard's queues (its own log says so;
        // MassTransit's log is process-wide and may be another host's); the dashboard never gets ready.
        await using (var impostor = EmbeddedPlatform.Build("http://127.0.0.1:0", directory, Settings("feedback", "impostor.log"), ApiKey, events: null,
                         PlatformServices.Dashboard))
        {
            await impostor.StartAsync(Cancel);
            using var http = new HttpClient { BaseAddress = new Uri(impostor.Urls.First()) };
            const string refusal = "access to queue 'live-dashboard-";
            await Until(() => Task.FromResult(servers.RabbitMqLog().Contains(refusal, StringComparison.Ordinal)), "the broker's refusal of the dashboard's queues",
                () => servers.RabbitMqLog()[^Math.Min(3000, servers.RabbitMqLog().Length)..]);
            Assert.Matches("access to queue 'live-dashboard-[a-z-]+-[0-9a-f]+' in vhost '/' refused for user 'rlhf-feedback'", servers.RabbitMqLog());
            using var ready = await http.GetAsync("/health/ready", Cancel);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        }
    }

    static async Task WaitReadyAsync(string url)
    {
        using var http = new HttpClient { BaseAddress = new Uri(url) };
        var last = "";
        await Until(async () =>
        {
            using var response = await http.GetAsync("/health/ready", Cancel);
            last = await response.Content.ReadAsStringAsync(Cancel);
            return response.StatusCode == HttpStatusCode.OK;
        }, $"{url} ready", () => last);
    }

    static async Task Until(Func<Task<bool>> condition, string what, Func<string>? detail = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(180);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"timed out waiting for {what} {detail?.Invoke()}");
            await Task.Delay(250, Cancel);
        }
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
        }, Cancel);
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(Cancel))!;
    }
}
