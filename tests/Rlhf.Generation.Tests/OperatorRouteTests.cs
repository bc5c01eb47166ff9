using System.Net;
using Rlhf.Generation.Tests.Support;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

/// <summary>Generation's status (batching, outbox, policy versions) is for operators; chat stays the client apps'.</summary>
public sealed class OperatorRouteTests : IDisposable
{
    readonly TinyPolicy policy = new();

    public void Dispose() => policy.Dispose();

    [Fact]
    public async Task Generation_status_refuses_anonymous_callers_and_unknown_keys()
    {
        await using var host = new GenerationHost(policy.Directory, OperatorAccess.Settings());

        var statuses = await OperatorAccess.ProbeAsync(host.Client, () => new HttpRequestMessage(HttpMethod.Get, "/v1/generation/status"));

        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.OK), statuses);
    }
}
