using System.Net;
using Rlhf.Learner.Tests.Support;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests;

/// <summary>The learner's status and the registry (checkpoint paths, blob URIs) are for operators: anonymous callers get 401.</summary>
public sealed class OperatorRouteTests : IDisposable
{
    readonly TinyPolicy policy = new();
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-tests-state-{Guid.NewGuid():N}");

    public void Dispose()
    {
        policy.Dispose();
        if (Directory.Exists(stateDirectory))
            Directory.Delete(stateDirectory, recursive: true);
    }

    [Theory]
    [InlineData("/v1/learner/status")]
    [InlineData("/v1/models/versions")]
    public async Task Learner_routes_refuse_anonymous_callers_and_unknown_keys(string path)
    {
        var settings = LearnerHost.Settings(policy, stateDirectory);
        foreach (var (key, value) in OperatorAccess.Settings())
            settings[key] = value;
        await using var host = new LearnerHost(settings);

        var statuses = await OperatorAccess.ProbeAsync(host.Client, () => new HttpRequestMessage(HttpMethod.Get, path));

        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.OK), statuses);
    }
}
