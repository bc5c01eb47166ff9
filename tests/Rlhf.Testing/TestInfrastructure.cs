namespace Rlhf.Testing;

/// <summary>
/// Where the real servers started by <c>scripts/infra.sh</c> listen. <c>scripts/test.sh</c> exports the variables;
/// running <c>dotnet test</c> by hand falls back to the local defaults.
/// </summary>
public static class TestInfrastructure
{
    public static Uri RabbitMq { get; } = new(Environment.GetEnvironmentVariable("RLHF_TEST_RABBITMQ") ?? "amqp://guest:guest@localhost:5672/");

    public static string Redis { get; } = Environment.GetEnvironmentVariable("RLHF_TEST_REDIS") ?? "localhost:6379";

    /// <summary>
    /// A local port nothing listens on (bound then released), for "dependency is down" tests. Not for a host to listen on:
    /// another test's outgoing connection can take the port before the host binds it; a host listens on port 0 and the
    /// test reads the port it bound (<c>app.Urls</c> after the start, or the child's "Now listening on" line).
    /// </summary>
    public static int ClosedPort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Configuration keys that point a host at the real RabbitMQ and the given Redis.</summary>
    public static Dictionary<string, string?> RabbitMqSettings(string? redis = null)
    {
        var user = Uri.UnescapeDataString(RabbitMq.UserInfo.Split(':')[0]);
        var password = Uri.UnescapeDataString(RabbitMq.UserInfo.Split(':').ElementAtOrDefault(1) ?? "guest");
        var vhost = RabbitMq.AbsolutePath is "" or "/" ? "/" : Uri.UnescapeDataString(RabbitMq.AbsolutePath.TrimStart('/'));
        return new()
        {
            ["Bus:Transport"] = "RabbitMq",
            ["Bus:RabbitMq:Host"] = RabbitMq.Host,
            ["Bus:RabbitMq:Port"] = RabbitMq.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Bus:RabbitMq:VirtualHost"] = vhost,
            ["Bus:RabbitMq:Username"] = user,
            ["Bus:RabbitMq:Password"] = password,
            ["Redis:Configuration"] = redis ?? Redis,
        };
    }
}
