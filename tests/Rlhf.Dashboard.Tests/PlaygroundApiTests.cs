using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Contracts;
using Rlhf.Dashboard.Playground;

namespace Rlhf.Dashboard.Tests;

/// <summary>
/// The playground's backend against a stand-in for generation and feedback on a real port: it adds the client key
/// (Bearer for chat, X-Api-Key for feedback), passes the page's Idempotency-Key, bodies and answers through, picks one
/// user per canary side, and refuses bad requests with clear errors; a refused client key or an upstream failure is
/// the dashboard's 502/503, never a 500 and never the operator's sign-in.
/// </summary>
public sealed class PlaygroundApiTests
{
    const string OperatorKey = "playground-test-operator";
    const string ClientKey = "playground-test-client";
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Generation and feedback as the playground sees them: answers what <see cref="Answer"/> says and records each request.</summary>
    sealed class Upstream : IAsyncDisposable
    {
        public required WebApplication App { get; init; }
        public required string Url { get; init; }
        public List<(string Path, string? Authorization, string? ApiKey, string? IdempotencyKey, string Body)> Requests { get; } = [];
        public Func<string, (int Status, string Body)> Answer { get; set; } = _ => (200, "{\"ok\":true}");
        public JsonObject Status { get; set; } = new() { ["champion"] = new JsonObject { ["version"] = 3 }, ["canary"] = null, ["canary_share"] = 0.0 };

        public static async Task<Upstream> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            Upstream? self = null;
            app.MapGet("/v1/generation/status", () => Results.Text(self!.Status.ToJsonString(), "application/json"));
            app.MapPost("/{**path}", async (HttpContext http) =>
            {
                var body = await new StreamReader(http.Request.Body).ReadToEndAsync();
                self!.Requests.Add((http.Request.Path, http.Request.Headers.Authorization, http.Request.Headers["X-Api-Key"],
                    http.Request.Headers["Idempotency-Key"], body));
                var (status, answer) = self.Answer(http.Request.Path!);
                return Results.Text(answer, "application/json", Encoding.UTF8, status);
            });
            await app.StartAsync();
            var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            self = new Upstream { App = app, Url = url };
            return self;
        }

        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }

    static Task<ServiceOnPort> DashboardAsync(string? upstream) => ServiceOnPort.StartAsync(new Dictionary<string, string?>
    {
        ["Log:Console"] = "false",
        ["Dashboard:OperatorKey"] = OperatorKey,
        ["Dashboard:Playground:GenerationUrl"] = upstream,
        ["Dashboard:Playground:FeedbackUrl"] = upstream,
        ["Dashboard:Playground:ClientKey"] = ClientKey,
    }, Cancel);

    static HttpClient Operator(ServiceOnPort dashboard)
    {
        var http = new HttpClient { BaseAddress = dashboard.Address };
        http.DefaultRequestHeaders.Add("X-Operator-Key", OperatorKey);
        return http;
    }

    static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Chat_and_feedback_go_to_the_public_apis_with_the_client_key_and_come_back_as_answered()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var dashboard = await DashboardAsync(upstream.Url);
        using var http = Operator(dashboard);
        upstream.Answer = path => path.Contains("ratings") ? (409, "{\"detail\":\"already judged\"}") : (202, "{\"status\":\"accepted\"}");

        using var chat = await http.PostAsync("/v1/dashboard/playground/chat", Json("{\"messages\":[]}"), Cancel);
        Assert.Equal(HttpStatusCode.Accepted, chat.StatusCode);
        using var ranking = new HttpRequestMessage(HttpMethod.Post, "/v1/dashboard/playground/feedback/rankings") { Content = Json("{\"group_id\":\"g\"}") };
        ranking.Headers.Add("Idempotency-Key", "k-1");
        Assert.Equal(HttpStatusCode.Accepted, (await http.SendAsync(ranking, Cancel)).StatusCode);
        using var rating = new HttpRequestMessage(HttpMethod.Post, "/v1/dashboard/playground/feedback/ratings") { Content = Json("{}") };
        rating.Headers.Add("Idempotency-Key", "k-2");
        using var refused = await http.SendAsync(rating, Cancel);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Equal("already judged", (await refused.Content.ReadFromJsonAsync<JsonObject>(Cancel))!["detail"]!.GetValue<string>());

        Assert.Collection(upstream.Requests,
            r => Assert.Equal(("/v1/chat/completions", $"Bearer {ClientKey}", (string?)null, (string?)null, "{\"messages\":[]}"),
                (r.Path, r.Authorization, r.ApiKey, r.IdempotencyKey, r.Body)),
            r => Assert.Equal(("/v1/feedback/rankings", ClientKey, "k-1", "{\"group_id\":\"g\"}"), (r.Path, r.ApiKey, r.IdempotencyKey, r.Body)),
            r => Assert.Equal(("/v1/feedback/ratings", ClientKey, "k-2"), (r.Path, r.ApiKey, r.IdempotencyKey)));
    }

    [Fact]
    public async Task Session_gives_one_user_per_side_that_generation_routes_to_that_side()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var dashboard = await DashboardAsync(upstream.Url);
        using var http = Operator(dashboard);

        var plain = await http.GetFromJsonAsync<JsonObject>("/v1/dashboard/playground/session?session=s1", Cancel);
        Assert.Equal(3, plain!["champion_version"]!.GetValue<long>());
        Assert.Single(plain["sides"]!.AsArray());

        upstream.Status = new JsonObject { ["champion"] = new JsonObject { ["version"] = 3 }, ["canary"] = new JsonObject { ["version"] = 4 }, ["canary_share"] = 0.05 };
        var session = await http.GetFromJsonAsync<JsonObject>("/v1/dashboard/playground/session?session=s1", Cancel);
        Assert.Equal(4, session!["canary_version"]!.GetValue<long>());
        var sides = session["sides"]!.AsArray().ToDictionary(s => s!["side"]!.GetValue<string>(), s => s!["user"]!.GetValue<string>());
        Assert.False(CanaryRouting.IsCanary(4, CanaryRouting.KeyOf(sides["champion"], "x"), 0.05));
        Assert.True(CanaryRouting.IsCanary(4, CanaryRouting.KeyOf(sides["canary"], "x"), 0.05));
        Assert.Equal(PlaygroundUsers.For("s1", 4, 0.05), (sides["champion"], sides["canary"]));
    }

    [Theory]
    [InlineData("/v1/dashboard/playground/session?session=bad%20id", "GET", null, "application/json", HttpStatusCode.BadRequest)]
    [InlineData("/v1/dashboard/playground/session", "GET", null, "application/json", HttpStatusCode.BadRequest)]
    [InlineData("/v1/dashboard/playground/feedback/votes", "POST", "k", "application/json", HttpStatusCode.NotFound)]
    [InlineData("/v1/dashboard/playground/feedback/rankings", "POST", null, "application/json", HttpStatusCode.BadRequest)]
    [InlineData("/v1/dashboard/playground/feedback/rankings", "POST", "k", "text/plain", HttpStatusCode.UnsupportedMediaType)]
    [InlineData("/v1/dashboard/playground/chat", "POST", null, "text/plain", HttpStatusCode.UnsupportedMediaType)]
    public async Task Bad_requests_get_a_clear_error_and_reach_no_api(string path, string method, string? idempotencyKey, string contentType,
        HttpStatusCode expected)
    {
        await using var upstream = await Upstream.StartAsync();
        await using var dashboard = await DashboardAsync(upstream.Url);
        using var http = Operator(dashboard);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
            request.Content = new StringContent("{}", Encoding.UTF8, contentType);
        if (idempotencyKey is not null)
            request.Headers.Add("Idempotency-Key", idempotencyKey);

        using var response = await http.SendAsync(request, Cancel);

        Assert.Equal(expected, response.StatusCode);
        Assert.NotNull((await response.Content.ReadFromJsonAsync<JsonObject>(Cancel))!["detail"]);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task A_body_over_the_limit_is_refused_with_413()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var dashboard = await DashboardAsync(upstream.Url);
        using var http = Operator(dashboard);
        var big = "{\"messages\":\"" + new string('x', PlaygroundApi.MaxBodyBytes) + "\"}";

        using var response = await http.PostAsync("/v1/dashboard/playground/chat", Json(big), Cancel);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Empty(upstream.Requests);
    }

    [Theory]
    [InlineData(401, HttpStatusCode.BadGateway)]
    [InlineData(500, HttpStatusCode.BadGateway)]
    [InlineData(503, HttpStatusCode.ServiceUnavailable)]
    public async Task A_refused_key_or_a_failing_api_is_a_gateway_error_not_a_sign_in(int upstreamStatus, HttpStatusCode expected)
    {
        await using var upstream = await Upstream.StartAsync();
        await using var dashboard = await DashboardAsync(upstream.Url);
        using var http = Operator(dashboard);
        upstream.Answer = _ => (upstreamStatus, "{}");

        using var response = await http.PostAsync("/v1/dashboard/playground/chat", Json("{}"), Cancel);

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task Without_an_operator_key_or_configuration_the_playground_says_so()
    {
        await using var unconfigured = await DashboardAsync(upstream: null);
        using var anonymous = new HttpClient { BaseAddress = unconfigured.Address };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/dashboard/playground/session?session=s", Cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/v1/dashboard/playground/chat", Json("{}"), Cancel)).StatusCode);

        using var http = Operator(unconfigured);
        using var response = await http.GetAsync("/v1/dashboard/playground/session?session=s", Cancel);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("Dashboard:Playground:GenerationUrl", (await response.Content.ReadFromJsonAsync<JsonObject>(Cancel))!["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task Generation_down_is_503_with_the_reason()
    {
        var closed = $"http://127.0.0.1:{Rlhf.Testing.TestInfrastructure.ClosedPort()}";
        await using var dashboard = await DashboardAsync(closed);
        using var http = Operator(dashboard);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/v1/dashboard/playground/session?session=s", Cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.PostAsync("/v1/dashboard/playground/chat", Json("{}"), Cancel)).StatusCode);
    }
}
