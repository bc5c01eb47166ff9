using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Xunit;

namespace Rlhf.Testing;

/// <summary>
/// What every service host must do, checked against the real RabbitMQ and Redis: name itself on <c>GET /</c>,
/// be ready when its dependencies are up, and name Redis in a 503 when Redis is unreachable.
/// Each service's test project derives one class from this with its own <c>Program</c>.
/// </summary>
public abstract class ServiceHostContract<TProgram>(string expectedName) where TProgram : class
{
    static WebApplicationFactory<TProgram> CreateHost(IReadOnlyDictionary<string, string?> settings) =>
        new WebApplicationFactory<TProgram>().WithWebHostBuilder(web =>
        {
            foreach (var (key, value) in settings)
                web.UseSetting(key, value);
        });

    [Fact]
    public async Task Root_names_the_service_and_its_version()
    {
        await using var host = CreateHost(new Dictionary<string, string?> { ["Bus:Transport"] = "InMemory" });
        using var client = host.CreateClient();

        var body = JsonDocument.Parse(await client.GetStringAsync("/", TestContext.Current.CancellationToken)).RootElement;

        Assert.Equal(expectedName, body.GetProperty("name").GetString());
        Assert.Matches(@"^\d+\.\d+\.\d+", body.GetProperty("version").GetString());
    }

    [Fact]
    public async Task Ready_with_real_rabbitmq_and_redis()
    {
        await using var host = CreateHost(TestInfrastructure.RabbitMqSettings());
        using var client = host.CreateClient();

        var (status, body) = await WaitForReadiness(client, HttpStatusCode.OK);

        Assert.True(status == HttpStatusCode.OK, $"/health/ready answered {status}: {body}");
        var checks = JsonDocument.Parse(body).RootElement.GetProperty("checks").EnumerateArray()
            .Select(c => c.GetProperty("name").GetString()).ToList();
        Assert.Contains("rabbitmq", checks);
        Assert.Contains("redis", checks);
    }

    [Fact]
    public async Task Not_ready_names_redis_when_redis_is_unreachable()
    {
        var settings = TestInfrastructure.RabbitMqSettings(redis: $"127.0.0.1:{TestInfrastructure.ClosedPort()}");
        await using var host = CreateHost(settings);
        using var client = host.CreateClient();

        // Give the bus time to connect so that Redis is the only failing check.
        var (status, body) = await WaitForReadiness(client, HttpStatusCode.ServiceUnavailable, requireOnlyRedisFailing: true);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        var failing = JsonDocument.Parse(body).RootElement.GetProperty("failing").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(["redis"], failing);
        var live = await client.GetAsync("/health/live", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    static async Task<(HttpStatusCode Status, string Body)> WaitForReadiness(
        HttpClient client, HttpStatusCode wanted, bool requireOnlyRedisFailing = false)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var response = await client.GetAsync("/health/ready", TestContext.Current.CancellationToken);
            var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            var done = response.StatusCode == wanted
                && (!requireOnlyRedisFailing || OnlyRedisFails(body));
            if (done || DateTime.UtcNow > deadline)
                return (response.StatusCode, body);
            await Task.Delay(250, TestContext.Current.CancellationToken);
        }
    }

    static bool OnlyRedisFails(string body) =>
        JsonDocument.Parse(body).RootElement.GetProperty("failing").EnumerateArray().Select(e => e.GetString()).SequenceEqual(["redis"]);
}
