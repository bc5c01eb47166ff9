using System.ComponentModel.DataAnnotations;
using RabbitMQ.Client;
using Rlhf.Archive;

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

    /// <summary>Connection string form used in logs and health messages (password hidden).</summary>
    public string DisplayAddress => $"amqp://{Username}@{Host}:{Port}{(VirtualHost.StartsWith('/') ? VirtualHost : "/" + VirtualHost)}";

    /// <summary>A RabbitMQ.Client connection factory for this broker (the archive tools' AMQP 0.9.1 connections).</summary>
    public ConnectionFactory ConnectionFactory(string clientName) => new()
    {
        HostName = Host,
        Port = Port,
        VirtualHost = VirtualHost,
        UserName = Username,
        Password = Password,
        ClientProvidedName = clientName,
        RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>This broker as the event archive sees it.</summary>
    public ArchiveBroker ArchiveBroker() => new(ConnectionFactory, DisplayAddress);
}
