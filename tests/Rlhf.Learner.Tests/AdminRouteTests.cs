using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Rlhf.Contracts;
using Rlhf.Learner.Tests.Support;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests;

/// <summary>
/// The admin routes (promote, rollback, abort-canary, resume, requeue, purge): anonymous callers and unknown keys get
/// 401, an operator key without the admin role 403, and neither changes the registry; an admin's call has its effect
/// (registry and published events) and answers the JSON outcome. A learner without a model, on the in-memory bus and
/// in-memory stores shared with the test.
/// </summary>
public sealed class AdminRouteTests : IAsyncLifetime
{
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-admin-{Guid.NewGuid():N}");
    readonly SharedStores stores = new();
    LearnerHost host = null!;

    string LogFile => Path.Combine(stateDirectory, "learner.log");

    public async ValueTask InitializeAsync()
    {
        var settings = OperatorAccess.AdminSettings();
        settings["Bus:Transport"] = "InMemory";
        settings["Learner:StateDirectory"] = stateDirectory;
        settings["Log:File"] = LogFile;
        host = new LearnerHost(settings, stores);
        var ct = TestContext.Current.CancellationToken;
        for (var version = 1; version <= 3; version++)
        {
            var blob = await stores.Blobs.PutAsync($"policy-{version}", Encoding.UTF8.GetBytes($"weights of version {version}"), "safetensors", ct);
            await stores.Registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, version == 1 ? null : version - 1, blob,
                new Dictionary<string, double> { ["mean_reward"] = 0.1 * version }, DateTimeOffset.UtcNow), ct);
        }

        await stores.Registry.PromoteAsync(ModelKind.Policy, 1, ct);
    }

    public async ValueTask DisposeAsync()
    {
        await host.DisposeAsync();
        TestDirectory.Delete(stateDirectory);
    }

    public static TheoryData<string, string> Routes() => new()
    {
        { "/v1/admin/policy/promote", """{"version": 2}""" },
        { "/v1/admin/policy/rollback", """{"version": 2}""" },
        { "/v1/admin/policy/abort-canary", "" },
        { "/v1/admin/policy/resume", "" },
        { "/v1/admin/errors/requeue", """{"queue": "ranking-submitted_error"}""" },
        { "/v1/admin/errors/purge", """{"queue": "ranking-submitted_error"}""" },
        { "/v1/admin/errors/scrub", """{"queues": ["ranking-submitted_error"]}""" },
    };

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Admin_routes_refuse_anonymous_callers_unknown_keys_and_operators_without_the_admin_role(string path, string body)
    {
        await stores.Registry.StartCanaryAsync(ModelKind.Policy, 3, TestContext.Current.CancellationToken);

        var anonymous = await PostAsync(path, body, key: null);
        var unknown = await PostAsync(path, body, key: "not-a-key");
        var operatorOnly = await PostAsync(path, body, OperatorAccess.Key);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, operatorOnly.StatusCode);
        Assert.Contains("test-operator", await operatorOnly.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(1, (await stores.Registry.GetPromotedAsync(ModelKind.Policy, TestContext.Current.CancellationToken))?.Version);
        Assert.Equal(3, (await stores.Registry.GetCanaryAsync(ModelKind.Policy, TestContext.Current.CancellationToken))?.Version);
        Assert.Empty(host.Events.Of<PolicyUpdated>());
        Assert.Empty(host.Events.Of<CanaryConcluded>());
    }

    [Fact]
    public async Task An_admin_promotes_a_version_and_the_learner_publishes_it()
    {
        var response = await PostAsync("/v1/admin/policy/promote", """{"version": 2}""", OperatorAccess.AdminKey);

        var outcome = await OutcomeAsync(response, HttpStatusCode.OK);
        Assert.Equal("policy.promote", outcome.GetProperty("action").GetString());
        Assert.Equal("test-admin", outcome.GetProperty("operator").GetString());
        Assert.Equal("done", outcome.GetProperty("result").GetString());
        Assert.Contains(outcome.GetProperty("messages").EnumerateArray(), line => line.GetString()!.StartsWith("Promoted policy version 2 in the registry"));
        Assert.Equal(2, (await stores.Registry.GetPromotedAsync(ModelKind.Policy, TestContext.Current.CancellationToken))?.Version);
        var update = Assert.Single(host.Events.Of<PolicyUpdated>());
        Assert.Equal((2L, 1L, true), (update.PolicyVersion, update.ParentVersion, update.IsRollback));
        await AssertLoggedAsync(line => line.Contains("Audit: test-admin ran policy.promote version 2: done (Published PolicyUpdated", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_admin_rollback_to_an_unknown_version_is_refused_and_changes_nothing()
    {
        var response = await PostAsync("/v1/admin/policy/rollback", """{"version": 9}""", OperatorAccess.AdminKey);

        var outcome = await OutcomeAsync(response, HttpStatusCode.Conflict);
        Assert.Equal("refused", outcome.GetProperty("result").GetString());
        var error = Assert.Single(outcome.GetProperty("errors").EnumerateArray()).GetString();
        Assert.Contains("policy version 9 is not registered", error);
        Assert.Contains("registered: 1, 2, 3", error);
        Assert.Equal(1, (await stores.Registry.GetPromotedAsync(ModelKind.Policy, TestContext.Current.CancellationToken))?.Version);
        Assert.Empty(host.Events.Of<PolicyUpdated>());
        await AssertLoggedAsync(line => line.Contains("Audit: test-admin ran policy.rollback version 9: refused (error: policy version 9 is not registered", StringComparison.Ordinal)
            && line.Contains("policy version 9 is not registered", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_admin_aborts_the_live_canary()
    {
        var ct = TestContext.Current.CancellationToken;
        Assert.True(await stores.Registry.StartCanaryAsync(ModelKind.Policy, 3, ct));

        var outcome = await OutcomeAsync(await PostAsync("/v1/admin/policy/abort-canary", "", OperatorAccess.AdminKey), HttpStatusCode.OK);

        Assert.Equal("done", outcome.GetProperty("result").GetString());
        Assert.Null(await stores.Registry.GetCanaryAsync(ModelKind.Policy, ct));
        Assert.Equal(1, (await stores.Registry.GetPromotedAsync(ModelKind.Policy, ct))?.Version);
        var rejected = Assert.Single(await stores.Registry.ListRejectedAsync(ModelKind.Policy, ct));
        Assert.Equal((3L, "aborted by an operator"), (rejected.Version, rejected.Reason));
        var concluded = Assert.Single(host.Events.Of<CanaryConcluded>());
        Assert.Equal((3L, CanaryOutcome.Aborted), (concluded.CandidateVersion, concluded.Outcome));

        var again = await OutcomeAsync(await PostAsync("/v1/admin/policy/abort-canary", "", OperatorAccess.AdminKey), HttpStatusCode.Conflict);
        Assert.Contains("no policy canary is live", Assert.Single(again.GetProperty("errors").EnumerateArray()).GetString());
    }

    [Fact]
    public async Task An_admin_resumes_paused_promotion()
    {
        var ct = TestContext.Current.CancellationToken;
        await stores.Registry.PausePromotionAsync(ModelKind.Policy, new PromotionPause("reward-hacking alarm in a test", DateTimeOffset.UtcNow), ct);

        var outcome = await OutcomeAsync(await PostAsync("/v1/admin/policy/resume", "", OperatorAccess.AdminKey), HttpStatusCode.OK);

        Assert.Equal("done", outcome.GetProperty("result").GetString());
        Assert.Null(await stores.Registry.GetPromotionPauseAsync(ModelKind.Policy, ct));
    }

    [Fact]
    public async Task Dead_letter_actions_on_the_in_memory_bus_are_refused()
    {
        var outcome = await OutcomeAsync(await PostAsync("/v1/admin/errors/purge", """{"queue": "ranking-submitted"}""", OperatorAccess.AdminKey),
            HttpStatusCode.Conflict);

        Assert.Equal("errors.purge", outcome.GetProperty("action").GetString());
        Assert.Contains("only on RabbitMQ", Assert.Single(outcome.GetProperty("errors").EnumerateArray()).GetString());
    }

    [Theory]
    [InlineData("/v1/admin/policy/promote", """{"version": "2"}""", "version")]
    [InlineData("/v1/admin/policy/promote", "{}", "version")]
    [InlineData("/v1/admin/policy/promote", """{"version": 0}""", "version")]
    [InlineData("/v1/admin/policy/promote", """{"version": 2, "version": 3}""", "version")]
    [InlineData("/v1/admin/policy/promote", """{"version": 2, "sudo": true}""", "sudo")]
    [InlineData("/v1/admin/policy/rollback", """{"version": 2, "force": true}""", "force")]
    [InlineData("/v1/admin/errors/requeue", """{"queue": ""}""", "queue")]
    [InlineData("/v1/admin/errors/requeue", """{"queue": "a_error", "max": 0}""", "max")]
    [InlineData("/v1/admin/errors/purge", """{"queue": "a_error", "max": 3}""", "max")]
    [InlineData("/v1/admin/errors/purge", "not json", null)]
    [InlineData("/v1/admin/errors/scrub", """{"queues": []}""", "queues")]
    [InlineData("/v1/admin/errors/scrub", """{"queues": ["a_error", " "]}""", "queues")]
    [InlineData("/v1/admin/errors/scrub", """{"queue": "a_error"}""", "queue")]
    public async Task Bad_admin_bodies_are_400_and_change_nothing(string path, string body, string? named)
    {
        var response = await PostAsync(path, body, OperatorAccess.AdminKey);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        if (named is not null)
            Assert.Contains(named, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(1, (await stores.Registry.GetPromotedAsync(ModelKind.Policy, TestContext.Current.CancellationToken))?.Version);
        Assert.Empty(host.Events.Of<PolicyUpdated>());
    }

    /// <summary>Asserts that a line of the learner's log file matches (waiting for it: see <see cref="ServiceLogFile"/>).</summary>
    async Task AssertLoggedAsync(Predicate<string> match)
    {
        var text = await ServiceLogFile.WaitForAsync(LogFile, t => Array.Exists(t.Split('\n'), match), TestContext.Current.CancellationToken);
        Assert.Contains(text.Split('\n'), match);
    }

    async Task<HttpResponseMessage> PostAsync(string path, string body, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (key is not null)
            request.Headers.Add("X-Operator-Key", key);
        return await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    static async Task<JsonElement> OutcomeAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == expected, $"expected {expected}, got {response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement;
    }
}
