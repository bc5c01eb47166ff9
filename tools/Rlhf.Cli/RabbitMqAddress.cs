using System.CommandLine.Parsing;
using RabbitMQ.Client;
using Rlhf.Archive;

namespace Rlhf.Cli;

/// <summary>
/// Parser of <c>--rabbitmq</c> options: System.CommandLine has no <see cref="Uri"/> converter, so an explicit address
/// would otherwise fail with an unhandled exception. Accepts amqp:// and amqps:// only.
/// </summary>
static class RabbitMqAddress
{
    public static Uri? Parse(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps")
            return uri;
        result.AddError($"--rabbitmq must be an amqp:// or amqps:// address (got '{text}').");
        return null;
    }

    /// <summary>One AMQP connection for a CLI command (see <see cref="BrokerConnection.ConnectAsync"/>).</summary>
    public static Task<IConnection> ConnectAsync(Uri rabbitmq, string clientName, TimeSpan timeout, CancellationToken cancellationToken) =>
        BrokerConnection.ConnectAsync(rabbitmq, clientName, timeout, cancellationToken);
}
