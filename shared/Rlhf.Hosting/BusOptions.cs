using System.ComponentModel.DataAnnotations;
using RabbitMQ.Client;
using Rlhf.Archive;
using Rlhf.Hosting.Tls;

namespace Rlhf.Hosting;

/// <summary>Which MassTransit transport a host uses.</summary>
public enum BusTransport
{
    /// <summary>In-process transport: one process, no broker (embedded demo, unit tests).</summary>
    InMemory,

    /// <summary>RabbitMQ broker: the production transport.</summary>
    RabbitMq,
}

/// <summary>Configuration section <c>Bus</c>.</summary>
public sealed class BusOptions
{
    public const string SectionName = "Bus";

    /// <summary><c>RabbitMq</c> or <c>InMemory</c> (default).</summary>
    public BusTransport Transport { get; set; } = BusTransport.InMemory;

    /// <summary>Broker settings, used when <see cref="Transport"/> is <see cref="BusTransport.RabbitMq"/>.</summary>
    public RabbitMqOptions RabbitMq { get; set; } = new();
}

/// <summary>Configuration section <c>Bus:RabbitMq</c>.</summary>
public sealed class RabbitMqOptions
{
    [Required]
    public string Host { get; set; } = "localhost";

    [Range(1, 65535)]
    public int Port { get; set; } = 5672;

    [Required]
    public string VirtualHost { get; set; } = "/";

    [Required]
    public string Username { get; set; } = "guest";

    [Required]
    public string Password { get; set; } = "guest";

    /// <summary>
    /// The nodes of a RabbitMQ cluster as <c>host:port</c> (e.g. <c>localhost:5682</c>), empty for a single broker. When
    /// set, the bus connects to whichever node answers, starting with <see cref="Host"/>:<see cref="Port"/>, and moves to
    /// another when its node goes down (with <see cref="QuorumQueues"/> the queues live on every node).
    /// </summary>
    public string[] ClusterNodes { get; set; } = [];

    /// <summary>Declare service queues as quorum queues (replicated, durable). Off only for brokers without quorum support.</summary>
    public bool QuorumQueues { get; set; } = true;

    /// <summary>Unacknowledged messages a consumer may hold at once.</summary>
    [Range(1, 10_000)]
    public int PrefetchCount { get; set; } = 16;

    /// <summary>TLS to the broker (AMQPS), for the bus and every other AMQP connection of the host (archive, admin routes).</summary>
    public TlsOptions Tls { get; set; } = new();

    TlsTrust? trust;

    /// <summary>The loaded certificates of <see cref="Tls"/> (null while TLS is off); loaded once.</summary>
    public TlsTrust? Trust() => Tls.Enabled ? trust ??= new TlsTrust(Tls) : null;

    /// <summary>Connection string form used in logs and health messages (password hidden).</summary>
    public string DisplayAddress => Address(Username);

    string Address(string user) =>
        $"{(Tls.Enabled ? "amqps" : "amqp")}://{user}@{Host}:{Port}{(VirtualHost.StartsWith('/') ? VirtualHost : "/" + VirtualHost)}";

    /// <summary>A RabbitMQ.Client connection factory for this broker (the archive tools' AMQP 0.9.1 connections).</summary>
    public ConnectionFactory ConnectionFactory(string clientName) => ConnectionFactory(clientName, Username, Password);

    ConnectionFactory ConnectionFactory(string clientName, string user, string password)
    {
        var factory = new ConnectionFactory
        {
            HostName = Host,
            Port = Port,
            VirtualHost = VirtualHost,
            UserName = user,
            Password = password,
            ClientProvidedName = clientName,
            RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
        };
        if (Trust() is { } tls)
        {
            factory.Ssl = new SslOption
            {
                Enabled = true,
                ServerName = Tls.ServerName ?? Host,
                CertificateValidationCallback = tls.Validate,
            };
            if (tls.ClientCertificate is { } own)
                factory.Ssl.Certs = [own];
        }

        return factory;
    }

    /// <summary>
    /// This broker as the event archive sees it: the bus's address and TLS, and the archive's own user when
    /// <see cref="EventArchiveOptions.Username"/> is set (the bus's otherwise).
    /// </summary>
    public ArchiveBroker ArchiveBroker(EventArchiveOptions archive)
    {
        var user = string.IsNullOrEmpty(archive.Username) ? Username : archive.Username;
        var password = string.IsNullOrEmpty(archive.Username) ? Password : archive.Password ?? "";
        return new ArchiveBroker(name => ConnectionFactory(name, user, password), Address(user));
    }
}
