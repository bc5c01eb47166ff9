using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Rlhf.Testing;

namespace Rlhf.Dashboard.Tests;

/// <summary>
/// The dashboard (recent prompts, responses, user and rater ids) takes the shared operator keys too: with operator keys
/// configured it refuses anonymous callers even when no <c>Dashboard:OperatorKey</c> is set.
/// </summary>
public sealed class OperatorRouteTests
{
    [Theory]
    [InlineData("/v1/dashboard/events")]
    [InlineData("/v1/dashboard/versions")]
    [InlineData("/v1/dashboard/release")]
    public async Task Dashboard_apis_refuse_anonymous_callers_and_unknown_keys_and_take_a_shared_operator_key(string path)
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Bus:Transport", "InMemory");
            foreach (var (key, value) in OperatorAccess.Settings())
                web.UseSetting(key, value);
        });
        using var client = factory.CreateClient();

        var statuses = await OperatorAccess.ProbeAsync(client, () => new HttpRequestMessage(HttpMethod.Get, path));

        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.OK), statuses);
    }

    [Fact]
    public async Task The_page_sends_anonymous_visitors_to_the_login_page()
    {
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Bus:Transport", "InMemory");
            foreach (var (key, value) in OperatorAccess.Settings())
                web.UseSetting(key, value);
        });
        using var client = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        using var response = await client.GetAsync("/dashboard", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/dashboard/login", response.Headers.Location?.ToString());
    }
}
