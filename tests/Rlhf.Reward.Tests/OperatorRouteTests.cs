using System.Net;
using System.Net.Http.Json;
using Rlhf.Testing;

namespace Rlhf.Reward.Tests;

/// <summary>Ad-hoc scoring, the reward status and comment search are for operators: anonymous callers get 401.</summary>
public sealed class OperatorRouteTests
{
    [Fact]
    public async Task Reward_score_and_status_refuse_anonymous_callers_and_unknown_keys()
    {
        await using var host = new RewardTestHost(OperatorAccess.Settings());

        var score = await OperatorAccess.ProbeAsync(host.Client, () => new HttpRequestMessage(HttpMethod.Post, "/v1/reward/score")
        {
            Content = JsonContent.Create(new { messages = new[] { new { role = "user", content = "2+2=" } }, response = "4" }),
        });
        var status = await OperatorAccess.ProbeAsync(host.Client, () => new HttpRequestMessage(HttpMethod.Get, "/v1/reward/status"));
        var comments = await OperatorAccess.ProbeAsync(host.Client, () => new HttpRequestMessage(HttpMethod.Get, "/v1/reward/comments?q=x"));

        Assert.Equal(HttpStatusCode.Unauthorized, score.Anonymous);
        Assert.Equal(HttpStatusCode.Unauthorized, score.WrongKey);
        Assert.NotEqual(HttpStatusCode.Unauthorized, score.Operator);
        Assert.NotEqual(HttpStatusCode.Forbidden, score.Operator);
        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.OK), status);
        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.OK), comments);
    }
}
