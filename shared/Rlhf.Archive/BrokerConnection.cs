using RabbitMQ.Client;

namespace Rlhf.Archive;

/// <summary>AMQP connections of the archive tools, addressed by an amqp:// URI.</summary>
public static class BrokerConnection
{
    /// <summary>One AMQP connection for a command: bounded connect and RPC waits, no automatic recovery.</summary>
    public static Task<IConnection> ConnectAsync(Uri rabbitmq, string clientName, TimeSpan timeout, CancellationToken cancellationToken) =>
        new ConnectionFactory
        {
            Uri = rabbitmq,
            ClientProvidedName = clientName,
            RequestedConnectionTimeout = timeout,
            ContinuationTimeout = timeout,
            AutomaticRecoveryEnabled = false,
        }.CreateConnectionAsync(cancellationToken);
}
