using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client.Exceptions;
using Rlhf.Archive;
using Rlhf.Hosting.Tls;
using Rlhf.Storage;
using Rlhf.Testing;
using StackExchange.Redis;

namespace Rlhf.Hosting.Tests;

/// <summary>
/// TLS on a RabbitMQ node and a Redis of the class's own, started by <c>scripts/infra.sh tls up</c> (TLS listeners next
/// to the plain ones, a private CA made with openssl): MassTransit and Redis round trips over TLS with that CA (and the
/// client certificate), the archive's stream declared over TLS; a plain client on a TLS port, a TLS client on a plain
/// port, another CA and another server name are each refused, with a message that names the setting.
/// </summary>
public sealed class TlsTests(OwnTlsServers fixture) : IClassFixture<OwnTlsServers>
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    OwnServers Servers => fixture.Servers;

    string CaFile => Path.Combine(Servers.TlsDirectory, "ca.pem");

    Dictionary<string, string?> BusSettings(bool tls, int port, string? caFile = null, string serverName = "localhost") => new()
    {
        ["Bus:Transport"] = "RabbitMq",
        ["Bus:RabbitMq:Host"] = "127.0.0.1",
        ["Bus:RabbitMq:Port"] = port.ToString(CultureInfo.InvariantCulture),
        ["Bus:RabbitMq:Tls:Enabled"] = tls ? "true" : "false",
        ["Bus:RabbitMq:Tls:ServerName"] = tls ? serverName : null,
        ["Bus:RabbitMq:Tls:CaFile"] = tls ? caFile ?? CaFile : null,
    };

    Dictionary<string, string?> RedisSettings(bool tls, int port, string? caFile = null) => new()
    {
        ["Redis:Configuration"] = $"127.0.0.1:{port}{(tls ? ",ssl=true" : "")}",
        ["Redis:KeyPrefix"] = "rlhf-tls-test:",
        ["Redis:Tls:ServerName"] = tls ? "localhost" : null,
        ["Redis:Tls:CaFile"] = tls ? caFile ?? CaFile : null,
    };

    static IHost BuildHost(Dictionary<string, string?> settings, bool withConsumer = false)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults();
        if (withConsumer)
            builder.Services.AddBusConsumer<BusProbeConsumer>();
        return builder.Build();
    }

    static async Task<string> StartFailsAsync(Dictionary<string, string?> settings)
    {
        using var host = BuildHost(settings);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Cancel));
        return error.Message;
    }

    [Fact(Timeout = 300_000)]
    public async Task Bus_redis_and_archive_work_over_tls_with_the_private_ca_and_the_client_certificate()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var consumerSettings = BusSettings(tls: true, Servers.RabbitMqTlsPort);
        consumerSettings["Bus:RabbitMq:Tls:ClientCertFile"] = Path.Combine(Servers.TlsDirectory, "client.pem");
        consumerSettings["Bus:RabbitMq:Tls:ClientKeyFile"] = Path.Combine(Servers.TlsDirectory, "client.key");
        var publisherSettings = BusSettings(tls: true, Servers.RabbitMqTlsPort);
        foreach (var (key, value) in RedisSettings(tls: true, Servers.RedisTlsPort))
            publisherSettings[key] = value;
        publisherSettings["Redis:Tls:ClientCertFile"] = Path.Combine(Servers.TlsDirectory, "client.pem");
        publisherSettings["Redis:Tls:ClientKeyFile"] = Path.Combine(Servers.TlsDirectory, "client.key");
        publisherSettings["Archive:Enabled"] = "true";
        publisherSettings["Archive:QueueName"] = "rlhf-tls-archive";

        using var consumerHost = BuildHost(consumerSettings, withConsumer: true);
        using var publisherHost = BuildHost(publisherSettings);
        await consumerHost.StartAsync(Cancel);
        await publisherHost.StartAsync(Cancel);
        try
        {
            await consumerHost.Services.GetRequiredService<IBusControl>().WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(60));
            await publisherHost.Services.GetRequiredService<IBusControl>().WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(60));
            var nonce = Guid.NewGuid();
            await publisherHost.Services.GetRequiredService<IPublishEndpoint>().Publish(new BusProbe(nonce, "tls-publisher"), Cancel);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!BusProbeConsumer.Received.ContainsKey(nonce) && DateTime.UtcNow < deadline)
                await Task.Delay(50, Cancel);
            Assert.Equal("tls-publisher", BusProbeConsumer.Received.GetValueOrDefault(nonce));

            // Redis over TLS: the host's own multiplexer.
            var redis = publisherHost.Services.GetRequiredService<IConnectionMultiplexer>();
            var database = redis.GetDatabase();
            Assert.True(await database.StringSetAsync("rlhf-tls-test:probe", nonce.ToString()));
            Assert.Equal(nonce.ToString(), (string?)await database.StringGetAsync("rlhf-tls-test:probe"));
        }
        finally
        {
            await publisherHost.StopAsync(CancellationToken.None);
            await consumerHost.StopAsync(CancellationToken.None);
        }

        // The archive's stream was declared over the TLS connection of the publisher host.
        var (code, queues) = await Servers.InfraAsync("queues");
        Assert.True(code == 0, queues);
        Assert.Contains("rlhf-tls-archive", queues);
    }

    [Fact(Timeout = 300_000)]
    public async Task A_plain_client_on_a_tls_port_is_stopped_naming_the_tls_switch()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var bus = await StartFailsAsync(BusSettings(tls: false, Servers.RabbitMqTlsPort));
        Assert.Contains($"Bus:RabbitMq:Tls: 127.0.0.1:{Servers.RabbitMqTlsPort} expects TLS", bus);
        Assert.Contains("Bus:RabbitMq:Tls:Enabled=true", bus);

        var settings = RedisSettings(tls: false, Servers.RedisTlsPort);
        var redis = await StartFailsAsync(settings);
        Assert.Contains($"Redis:Tls: 127.0.0.1:{Servers.RedisTlsPort} expects TLS", redis);
    }

    [Fact(Timeout = 300_000)]
    public async Task A_tls_client_on_a_plain_port_is_stopped_naming_the_port()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var bus = await StartFailsAsync(BusSettings(tls: true, Servers.RabbitMqPort));
        Assert.Contains($"127.0.0.1:{Servers.RabbitMqPort} answers plain AMQP (no TLS)", bus);

        var redis = await StartFailsAsync(RedisSettings(tls: true, Servers.RedisPort));
        Assert.Contains($"127.0.0.1:{Servers.RedisPort} answers plain Redis (no TLS)", redis);
    }

    [Fact(Timeout = 300_000)]
    public async Task A_server_certificate_of_another_ca_or_another_name_is_refused()
    {
        TestContext.Current.CancellationToken.ThrowIfCancellationRequested();
        var otherCa = Path.Combine(Servers.TlsDirectory, "other-ca.pem");
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            var request = new CertificateRequest("CN=another CA", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
            await File.WriteAllTextAsync(otherCa, certificate.ExportCertificatePem(), Cancel);
        }

        // At start: the host does not start.
        var bus = await StartFailsAsync(BusSettings(tls: true, Servers.RabbitMqTlsPort, otherCa));
        Assert.Contains($"the TLS server at 127.0.0.1:{Servers.RabbitMqTlsPort} is refused", bus);
        Assert.Contains("is not signed by an authority in CaFile", bus);
        var redis = await StartFailsAsync(RedisSettings(tls: true, Servers.RedisTlsPort, otherCa));
        Assert.Contains("is not signed by an authority in CaFile", redis);
        var name = await StartFailsAsync(BusSettings(tls: true, Servers.RabbitMqTlsPort, serverName: "rabbitmq.example"));
        Assert.Contains("is not issued to the name this client expects", name);

        // The clients themselves refuse too (the archive's RabbitMQ.Client connections, the Redis multiplexer).
        RabbitMqOptions Broker(string caFile) => new()
        {
            Host = "127.0.0.1",
            Port = Servers.RabbitMqTlsPort,
            Tls = new TlsOptions { Enabled = true, ServerName = "localhost", CaFile = caFile },
        };
        var refused = await Assert.ThrowsAsync<BrokerUnreachableException>(async () =>
            await Broker(otherCa).ArchiveBroker(new EventArchiveOptions()).Connect("tls-test").CreateConnectionAsync(Cancel));
        Assert.Contains("RemoteCertificateValidationCallback", refused.ToString());
        await using (var trusted = await Broker(CaFile).ArchiveBroker(new EventArchiveOptions()).Connect("tls-test").CreateConnectionAsync(Cancel))
            Assert.True(trusted.IsOpen);

        var untrusted = TransportSecurity.RedisConfiguration(
            new RedisOptions { Configuration = $"127.0.0.1:{Servers.RedisTlsPort},ssl=true,connectTimeout=3000" },
            new TlsOptions { ServerName = "localhost", CaFile = otherCa });
        await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(untrusted);
        await Assert.ThrowsAsync<RedisConnectionException>(() => multiplexer.GetDatabase().PingAsync());
    }
}
