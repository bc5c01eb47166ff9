using RabbitMQ.Client;

namespace Rlhf.Archive;

/// <summary>
/// The broker a host's archive lives on, as the host's bus settings name it (the service defaults build it from
/// <c>Bus:RabbitMq</c>): a connection factory per client name, and the address for logs, without the password.
/// </summary>
public sealed record ArchiveBroker(Func<string, ConnectionFactory> Connect, string DisplayAddress);
