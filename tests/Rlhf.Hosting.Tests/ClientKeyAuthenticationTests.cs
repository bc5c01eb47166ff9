using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Hosting.Authentication;

namespace Rlhf.Hosting.Tests;

/// <summary>The shared client-key scheme in its header form (feedback's <c>X-Api-Key</c>): the client name on success, a ProblemDetails 401 otherwise.</summary>
public sealed class ClientKeyAuthenticationTests : IAsyncLifetime
{
    const string Key = "feedback-key-1";

    WebApplication app = null!;
    HttpClient http = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.AddServiceDefaults();
        builder.Services.AddAuthentication().AddScheme<ClientKeyAuthenticationOptions, ClientKeyAuthenticationHandler>("ApiKey", options =>
        {
            options.HeaderName = "X-Api-Key";
            options.KeyHashes = new Dictionary<string, string> { ["chat-app"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Key))) };
        });
        builder.Services.AddAuthorizationBuilder().AddPolicy("client", policy => policy.AddAuthenticationSchemes("ApiKey").RequireAuthenticatedUser());
        app = builder.Build();
        app.MapGet("/whoami", (HttpContext context) => context.User.Identity!.Name).RequireAuthorization("client");
        await app.StartAsync(TestContext.Current.CancellationToken);
        http = app.GetTestClient();
    }

    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        await app.DisposeAsync();
    }

    async Task<HttpResponseMessage> Get(string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/whoami");
        if (key is not null)
            request.Headers.Add("X-Api-Key", key);
        return await http.SendAsync(request, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_known_key_authenticates_as_its_client()
    {
        using var response = await Get(Key);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("chat-app", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong")]
    public async Task A_missing_or_unknown_key_is_a_401_problem_with_a_challenge(string? key)
    {
        using var response = await Get(key);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("ApiKey", response.Headers.WwwAuthenticate.Single().Scheme);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Contains(key is null ? "X-Api-Key header" : "not known", problem.GetProperty("detail").GetString());
    }
}
