using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Rlhf.Testing;

/// <summary>
/// A RabbitMQ node and a Redis of one test's own, through <c>scripts/infra.sh</c> on free ports with fresh data (never
/// the shared servers): <see cref="StartAsync"/> runs <c>up</c>, <see cref="InfraAsync"/> any other command on the same
/// ports, <see cref="DisposeAsync"/> runs <c>down</c> and deletes their data under <c>.infra/</c>. Started with
/// <c>tls up</c> (<see cref="StartAsync"/>'s command), both also listen with TLS on <see cref="RabbitMqTlsPort"/> and
/// <see cref="RedisTlsPort"/>, with the certificates in <see cref="TlsDirectory"/>.
/// </summary>
public sealed class OwnServers : IAsyncDisposable
{
    readonly IReadOnlyDictionary<string, string> environment;

    OwnServers(IReadOnlyDictionary<string, string> environment)
    {
        this.environment = environment;
        // Four different ports (a random pick may repeat one), none at a RabbitMQ distribution port.
        int[] taken = [RabbitMqPort, RabbitMqPort + 20_000, RedisPort];
        RabbitMqTlsPort = FreePort(port => !taken.Contains(port) && Free(port));
        RedisTlsPort = FreePort(port => !taken.Contains(port) && port != RabbitMqTlsPort && Free(port));
    }

    public string Root { get; } = ExternalTool.RepositoryRoot();

    // RabbitMQ's distribution port is the AMQP port + 20000 (scripts/infra.sh), so both must be free and below 65536.
    public int RabbitMqPort { get; } = FreePort(port => Free(port) && Free(port + 20_000));

    public int RedisPort { get; } = FreePort(Free);

    /// <summary>AMQPS port of a node started with <c>tls up</c>.</summary>
    public int RabbitMqTlsPort { get; }

    /// <summary>TLS port of a Redis started with <c>tls up</c>.</summary>
    public int RedisTlsPort { get; }

    /// <summary>The private CA (<c>ca.pem</c>), server and client certificates of <c>tls up</c>, this instance's own.</summary>
    public string TlsDirectory => Path.Combine(Root, ".infra", $"tls-{RabbitMqPort}");

    /// <summary>The env file <c>users</c> wrote for <paramref name="service"/>, as configuration keys (<c>Bus:RabbitMq:Username</c>...).</summary>
    public Dictionary<string, string?> UserSettings(string service) =>
        File.ReadAllLines(Path.Combine(Root, ".infra", $"users-{RabbitMqPort}-{RedisPort}", $"{service}.env"))
            .Where(line => !line.StartsWith('#') && line.Contains('='))
            .ToDictionary(line => line[..line.IndexOf('=')].Replace("__", ":", StringComparison.Ordinal), line => (string?)line[(line.IndexOf('=') + 1)..]);

    /// <summary>True when the real servers are available to the tests (<c>scripts/test.sh</c> sets <c>RLHF_TEST_RABBITMQ</c>).</summary>
    public static bool Enabled => Environment.GetEnvironmentVariable("RLHF_TEST_RABBITMQ") is not null;

    /// <summary>Starts both servers; on failure stops what started and throws with infra.sh's output.</summary>
    /// <param name="environment">More variables for infra.sh (e.g. <c>INFRA_REDIS_PREFIX</c>).</param>
    /// <param name="command">The infra.sh command that starts them: <c>up</c>, or <c>tls up</c> for TLS listeners as well.</param>
    public static async Task<OwnServers> StartAsync(IReadOnlyDictionary<string, string>? environment = null, string command = "up")
    {
        var servers = new OwnServers(environment ?? new Dictionary<string, string>());
        var (code, output) = await servers.InfraAsync(command);
        if (code != 0)
        {
            await servers.DisposeAsync();
            throw new InvalidOperationException($"scripts/infra.sh {command} failed (exit {code}): {output}");
        }

        return servers;
    }

    /// <summary>The RabbitMQ node's own log (its files under the data folder infra.sh recorded), e.g. to find the broker's refusals.</summary>
    public string RabbitMqLog()
    {
        var marker = File.ReadAllLines(Path.Combine(Root, ".infra", $"rabbitmq-{RabbitMqPort}.started"));
        var directory = Path.Combine(marker.Single(line => line.StartsWith("dir=", StringComparison.Ordinal))[4..], "log");
        return string.Concat(Directory.GetFiles(directory, "*.log").Order(StringComparer.Ordinal).Select(path =>
        {
            using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
            return reader.ReadToEnd();
        }));
    }

    public async Task<(int Code, string Output)> InfraAsync(string command)
    {
        var start = new ProcessStartInfo(Path.Combine(Root, "scripts", "infra.sh")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in command.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            start.ArgumentList.Add(argument);
        start.Environment["RABBITMQ_PORT"] = RabbitMqPort.ToString(CultureInfo.InvariantCulture);
        start.Environment["REDIS_PORT"] = RedisPort.ToString(CultureInfo.InvariantCulture);
        start.Environment["RABBITMQ_TLS_PORT"] = RabbitMqTlsPort.ToString(CultureInfo.InvariantCulture);
        start.Environment["REDIS_TLS_PORT"] = RedisTlsPort.ToString(CultureInfo.InvariantCulture);
        start.Environment["INFRA_TLS_DIR"] = TlsDirectory;
        start.Environment["INFRA_FRESH"] = "1";
        foreach (var (key, value) in environment)
            start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        await process.WaitForExitAsync(CancellationToken.None);
        return (process.ExitCode, await stdout + await stderr);
    }

    public async ValueTask DisposeAsync()
    {
        await InfraAsync("down");
        foreach (var name in new[] { $"rabbitmq-{RabbitMqPort}", $"redis-{RedisPort}", $"users-{RabbitMqPort}-{RedisPort}", $"tls-{RabbitMqPort}" })
            TestDirectory.Delete(Path.Combine(Root, ".infra", name));
        foreach (var file in new[] { $"rabbitmq-{RabbitMqPort}.console.log", $"rabbitmq-{RabbitMqPort}.launcher.pid" })
            File.Delete(Path.Combine(Root, ".infra", file));
    }

    static int FreePort(Func<int, bool> free)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(21_000, 29_000);
            if (free(port))
                return port;
        }

        throw new InvalidOperationException("No free port in 21000-29000.");
    }

    static bool Free(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
