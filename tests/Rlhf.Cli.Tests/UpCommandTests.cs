using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Rlhf.Cli.Up;
using Rlhf.Testing;

namespace Rlhf.Cli.Tests;

/// <summary>
/// <c>rlhf up</c> as a user runs it: the shipped CLI as its own process on the real RabbitMQ and Redis, a model
/// directory, two generation replicas and a scorer replica (the reward process then only trains); the printed URLs and key work (both replicas answer a chat with the key and
/// refuse one without it, the key's feedback is accepted), SIGTERM (the path Ctrl-C takes) stops every service it started. Bad arguments are refused before anything starts.
/// </summary>
public sealed partial class UpCommandTests : IAsyncDisposable
{
    readonly TinyPolicy policy = new(seed: 5);
    readonly string scratch = Path.Combine(Path.GetTempPath(), $"rlhf-up-test-{Guid.NewGuid():N}");
    readonly string run = Guid.NewGuid().ToString("N")[..10];

    public async ValueTask DisposeAsync()
    {
        await BrokerLeftovers.DeleteQueuesAsync($"up-test-{run}");
        await BrokerLeftovers.DeleteNamedQueuesAsync($"up-test-{run}-reward-scorer-reward-model-updated-scorer");
        await BrokerLeftovers.DeleteKeysAsync($"rlhf-test-up-{run}:");
        policy.Dispose();
        if (Directory.Exists(scratch))
            Directory.Delete(scratch, recursive: true);
    }

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [GeneratedRegex(@"^\s+(?<instance>[a-z.0-9]+)\s+(?<url>http://127\.0\.0\.1:\d+)", RegexOptions.Multiline)]
    private static partial Regex UrlLine();

    [GeneratedRegex(@"rlhf_[0-9a-f]{48}")]
    private static partial Regex Key();

    [GeneratedRegex(@"rlhfop_[0-9a-f]{48}")]
    private static partial Regex OperatorKey();

    Process Start(params string[] args)
    {
        var start = DotnetChildProcess.StartInfo("rlhf.dll");
        foreach (var arg in (string[])["up", .. args])
            start.ArgumentList.Add(arg);
        return Process.Start(start) ?? throw new InvalidOperationException("rlhf did not start");
    }

    [Fact]
    public async Task Up_starts_every_service_with_two_generation_replicas_and_a_scorer_prints_working_urls_and_key_and_stops_them_on_sigterm()
    {
        using var up = Start("--model", policy.Directory, "--replicas", "generation=2,scorer=1", "--port", "0", "--state", Path.Combine(scratch, "state"),
            "--runs", Path.Combine(scratch, "runs"), "--redis-prefix", $"rlhf-test-up-{run}:", "--queue-prefix", $"up-test-{run}", "--client", "test-app");
        var output = new StringBuilder();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        up.OutputDataReceived += (_, e) =>
        {
            lock (output) output.AppendLine(e.Data);
            if (e.Data?.StartsWith(UpCommand.ReadyLine, StringComparison.Ordinal) == true)
                ready.TrySetResult();
        };
        up.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        up.BeginOutputReadLine();
        up.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromMinutes(4), Cancel);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"rlhf up did not get ready:\n{output}");
        }

        string printed;
        lock (output) printed = output.ToString();
        var urls = UrlLine().Matches(printed).ToDictionary(m => m.Groups["instance"].Value, m => m.Groups["url"].Value);
        Assert.Equal(["dashboard", "feedback", "generation", "generation.2", "learner", "reward", "scorer"], urls.Keys.Order());
        var key = Key().Match(printed).Value;
        Assert.NotEmpty(key);

        using var http = new HttpClient();
        var operatorKey = OperatorKey().Match(printed).Value;
        Assert.NotEmpty(operatorKey);
        foreach (var (instance, role) in new[] { ("reward", "trainer"), ("scorer", "scorer") })
        {
            // Status is an operator route: refused without the printed operator key, answered with it.
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"{urls[instance]}/v1/reward/status", Cancel)).StatusCode);
            using var withKey = new HttpRequestMessage(HttpMethod.Get, $"{urls[instance]}/v1/reward/status");
            withKey.Headers.Add("X-Operator-Key", operatorKey);
            using var reply = await http.SendAsync(withKey, Cancel);
            using var status = JsonDocument.Parse(await reply.Content.ReadAsStringAsync(Cancel));
            Assert.Equal(role, status.RootElement.GetProperty("role").GetString());
            // Only the trainer takes a session of its own at autogroup nice 10 (README "Sharing cores with the trainer"),
            // wherever autogroup takes effect (also when this test's session has no autogroup: a session that never
            // called setsid, as under CI's runner); a scorer stays in rlhf up's session, which is this test's.
            var expected = role == "trainer"
                ? Rlhf.Hosting.CpuSession.NotInEffect() is null ? 10 : (int?)null
                : Rlhf.Hosting.CpuSession.Current();
            var sessionNice = status.RootElement.GetProperty("session_nice");
            Assert.Equal(expected, sessionNice.ValueKind == JsonValueKind.Null ? null : sessionNice.GetInt32());
        }

        // The learner's steps yield the cores to generation the same way.
        using (var learnerStatus = new HttpRequestMessage(HttpMethod.Get, $"{urls["learner"]}/v1/learner/status"))
        {
            learnerStatus.Headers.Add("X-Operator-Key", operatorKey);
            using var reply = await http.SendAsync(learnerStatus, Cancel);
            using var status = JsonDocument.Parse(await reply.Content.ReadAsStringAsync(Cancel));
            var sessionNice = status.RootElement.GetProperty("session_nice");
            Assert.Equal(Rlhf.Hosting.CpuSession.NotInEffect() is null ? 10 : (int?)null, sessionNice.ValueKind == JsonValueKind.Null ? null : sessionNice.GetInt32());
        }
        var chat = new { model = "rlhf-policy", messages = new[] { new { role = "user", content = "What is 2 + 3?" } }, max_tokens = 4, user = "u1" };
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsJsonAsync($"{urls["generation"]}/v1/chat/completions", chat, Cancel)).StatusCode);
        Guid rollout = default;
        foreach (var generation in new[] { urls["generation"], urls["generation.2"] })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"{generation}/v1/chat/completions") { Content = JsonContent.Create(chat) };
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
            using var reply = await http.SendAsync(request, Cancel);
            Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
            using var body = JsonDocument.Parse(await reply.Content.ReadAsStringAsync(Cancel));
            rollout = body.RootElement.GetProperty("choices")[0].GetProperty("rollout_id").GetGuid();
        }
        using var rating = new HttpRequestMessage(HttpMethod.Post, $"{urls["feedback"]}/v1/feedback/ratings")
        {
            Content = JsonContent.Create(new { rollout_id = rollout, scale = "thumbs", value = 1, rater_id = "u1" }),
        };
        rating.Headers.Add("X-Api-Key", key);
        Assert.Equal(HttpStatusCode.Accepted, (await http.SendAsync(rating, Cancel)).StatusCode);
        using var wrongKey = new HttpRequestMessage(HttpMethod.Post, $"{urls["feedback"]}/v1/feedback/ratings")
        {
            Content = JsonContent.Create(new { rollout_id = rollout, scale = "thumbs", value = 1, rater_id = "u2" }),
        };
        wrongKey.Headers.Add("X-Api-Key", "rlhf_not-the-key");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrongKey, Cancel)).StatusCode);

        // SIGTERM, which takes the same path as Ctrl-C (StopSignal). Not SIGINT itself: a shell that starts the test run in
        // the background (`scripts/test.sh &`) leaves SIGINT ignored in every process below it, and .NET keeps it ignored.
        Assert.Equal(0, sys_kill(up.Id, 15));
        try
        {
            await up.WaitForExitAsync(Cancel).WaitAsync(TimeSpan.FromSeconds(90), Cancel);
        }
        catch (TimeoutException)
        {
            up.Kill(entireProcessTree: true);
            lock (output) Assert.Fail($"rlhf up did not stop within 90 s of SIGTERM:\n{output}");
        }
        Assert.Equal(0, up.ExitCode);
        lock (output) Assert.Contains("rlhf up: stopping the services", output.ToString());
        foreach (var url in urls.Values)
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetAsync($"{url}/health/live", Cancel));
    }

    [Theory]
    [InlineData("--replicas", "learner=2", "the learner runs exactly once")]
    [InlineData("--replicas", "reward=2", "the reward trainer runs once")]
    [InlineData("--replicas", "generation=two", "must be 1..16")]
    [InlineData("--replicas", "scorer=17", "must be 0..16")]
    [InlineData("--replicas", "trainer=2", "is not service=count")]
    [InlineData("--canary-share", "1.5", "--canary-share must be in [0, 1]")]
    [InlineData("--client", "bad name", "must be 1-64 letters")]
    public async Task Bad_arguments_are_refused_before_anything_starts(string option, string value, string message)
    {
        using var up = Start("--model", policy.Directory, "--runs", Path.Combine(scratch, "runs"), option, value);
        var error = await up.StandardError.ReadToEndAsync(Cancel);
        await up.WaitForExitAsync(Cancel);

        Assert.Equal(1, up.ExitCode);
        Assert.Contains(message, error);
        Assert.False(Directory.Exists(Path.Combine(scratch, "runs")));
    }

    [Fact]
    public async Task A_folder_without_a_checkpoint_is_refused_as_a_model()
    {
        Directory.CreateDirectory(scratch);
        using var up = Start("--model", scratch);
        var error = await up.StandardError.ReadToEndAsync(Cancel);
        await up.WaitForExitAsync(Cancel);

        Assert.Equal(1, up.ExitCode);
        Assert.Contains("is not a checkpoint directory (no config.json)", error);
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int sys_kill(int pid, int signal);
}
