using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Rlhf.Hosting.Authentication;

namespace Rlhf.Hosting.Tests;

/// <summary>The shared operator scheme: <c>X-Operator-Key</c>, roles <c>operator</c> and <c>admin</c>, 401 and 403 as ProblemDetails.</summary>
public sealed class OperatorKeysTests
{
    const string OperatorKey = "op-key-5c1e";
    const string AdminKey = "admin-key-77aa";

    static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    static async Task<WebApplication> StartAsync(bool allowAnonymous = false)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Operators:Keys:alice"] = Hash(OperatorKey),
            ["Operators:AdminKeys:root"] = Hash(AdminKey),
            ["Operators:AllowAnonymous"] = allowAnonymous ? "true" : "false",
        });
        builder.AddServiceDefaults();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapGet("/status", () => "status").RequireOperator();
        app.MapPost("/promote", () => "promoted").RequireAdmin();
        await app.StartAsync(TestContext.Current.CancellationToken);
        return app;
    }

    static async Task<(HttpStatusCode Status, string Body)> SendAsync(WebApplication app, HttpMethod method, string path, string? key)
    {
        using var request = new HttpRequestMessage(method, path);
        if (key is not null)
            request.Headers.Add(OperatorKeys.HeaderName, key);
        using var response = await app.GetTestClient().SendAsync(request, TestContext.Current.CancellationToken);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData(null, "GET", "/status", 401, "A client key is required: send it in the X-Operator-Key header.")]
    [InlineData("wrong", "GET", "/status", 401, "The client key is not known.")]
    [InlineData(OperatorKey, "GET", "/status", 200, "status")]
    [InlineData(AdminKey, "GET", "/status", 200, "status")]
    [InlineData(null, "POST", "/promote", 401, "A client key is required")]
    [InlineData(OperatorKey, "POST", "/promote", 403, "The key of 'alice' does not have the role this route needs.")]
    [InlineData(AdminKey, "POST", "/promote", 200, "promoted")]
    public async Task Routes_need_a_key_with_their_role(string? key, string method, string path, int status, string expected)
    {
        await using var app = await StartAsync();

        var (actual, body) = await SendAsync(app, new HttpMethod(method), path, key);

        Assert.Equal(status, (int)actual);
        Assert.Contains(expected, body);
    }

    [Fact]
    public async Task Allow_anonymous_lets_callers_without_a_key_in_but_still_checks_a_presented_one()
    {
        await using var app = await StartAsync(allowAnonymous: true);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(app, HttpMethod.Get, "/status", null)).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(app, HttpMethod.Post, "/promote", null)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(app, HttpMethod.Get, "/status", "wrong")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(app, HttpMethod.Post, "/promote", OperatorKey)).Status);
    }

    [Fact]
    public async Task A_name_in_both_key_lists_stops_the_host()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Operators:Keys:twice"] = Hash(OperatorKey),
            ["Operators:AdminKeys:twice"] = Hash(AdminKey),
        });
        builder.AddServiceDefaults();
        await using var app = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("'twice' is both in Keys and AdminKeys", error.Message);
    }
}
