using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Rlhf.Learner.Admin;

/// <summary>
/// Requeue and purge of a dead-letter queue (<c>rlhf errors requeue|purge</c>, the learner's admin routes) over one
/// AMQP connection. Outcomes as <see cref="PolicyAction"/>: 0 done, 1 refused before any change, 2 failed part-way.
/// </summary>
public static class DeadLetterActions
{
    /// <summary>
    /// Moves up to <paramref name="max"/> (default: all present at the start) messages from the dead-letter queue to the
    /// original queue through the default exchange, with publisher confirms; each is acked only after its copy was
    /// confirmed.
    /// </summary>
    /// <param name="broker">The broker as messages name it (host:port/vhost, no credentials).</param>
    public static async Task<int> RequeueAsync(IConnection connection, string broker, string queue, int? max, bool yes, TextReader? confirm,
        TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var (deadLetter, original) = DeadLetterQueues.Resolve(queue);
        var moved = 0;
        try
        {
            var count = await DeadLetterQueues.MessageCountAsync(connection, deadLetter, cancellationToken);
            if (count is null)
                return NotFound(deadLetter, error);
            if (await DeadLetterQueues.MessageCountAsync(connection, original, cancellationToken) is null)
            {
                error.WriteLine($"error: the original queue '{original}' does not exist on {broker}; nothing to requeue to. {PolicyAction.NothingChanged}");
                return PolicyAction.Refused;
            }

            var limit = (int)Math.Min(count.Value, (uint)(max ?? int.MaxValue));
            if (limit == 0)
            {
                output.WriteLine($"Queue {deadLetter} is empty: moved 0 message(s).");
                return PolicyAction.Done;
            }

            if (!await ConfirmAsync($"Move {limit} message(s) from {deadLetter} back to {original}?", yes, confirm, output, error, cancellationToken))
                return PolicyAction.Refused;

            var options = new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);
            await using var channel = await connection.CreateChannelAsync(options, cancellationToken);
            while (moved < limit)
            {
                var result = await channel.BasicGetAsync(deadLetter, autoAck: false, cancellationToken);
                if (result is null)
                    break;
                var body = result.Body.ToArray();
                var properties = new BasicProperties(result.BasicProperties);
                try
                {
                    // Completes when the broker confirmed it; mandatory, so an unroutable copy fails instead of vanishing.
                    await channel.BasicPublishAsync("", original, mandatory: true, properties, body, cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    await channel.BasicNackAsync(result.DeliveryTag, multiple: false, requeue: true, CancellationToken.None);
                    error.WriteLine($"error: publishing message {moved + 1} to '{original}' failed ({DeadLetterQueues.Describe(e)}); " +
                        $"it stays in {deadLetter}. Moved {moved} message(s) before that.");
                    return PolicyAction.FailedPartway;
                }

                await channel.BasicAckAsync(result.DeliveryTag, multiple: false, cancellationToken);
                moved++;
            }

            output.WriteLine($"Moved {moved} message(s) from {deadLetter} to {original}.");
            return PolicyAction.Done;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return BrokerError(broker, e, moved == 0 ? PolicyAction.NothingChanged : $"Moved {moved} message(s) before that.", error,
                moved == 0 ? PolicyAction.Refused : PolicyAction.FailedPartway);
        }
    }

    /// <summary>Purges the dead-letter queue after confirmation; writes how many messages were deleted.</summary>
    public static async Task<int> PurgeAsync(IConnection connection, string broker, string queue, bool yes, TextReader? confirm, TextWriter output,
        TextWriter error, CancellationToken cancellationToken)
    {
        var (deadLetter, _) = DeadLetterQueues.Resolve(queue);
        try
        {
            var count = await DeadLetterQueues.MessageCountAsync(connection, deadLetter, cancellationToken);
            if (count is null)
                return NotFound(deadLetter, error);
            if (!await ConfirmAsync($"Delete all {count} message(s) of {deadLetter}?", yes, confirm, output, error, cancellationToken))
                return PolicyAction.Refused;

            await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
            var purged = await channel.QueuePurgeAsync(deadLetter, cancellationToken);
            output.WriteLine($"Purged {purged} message(s) from {deadLetter}.");
            return PolicyAction.Done;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return BrokerError(broker, e, "", error);
        }
    }

    /// <summary>
    /// Connects with <paramref name="connect"/> and runs <paramref name="run"/> on the connection (closed afterwards); a
    /// broker that cannot be reached gets the error line of <see cref="BrokerError"/> ("nothing changed") instead.
    /// </summary>
    public static async Task<int> OnBrokerAsync(Func<CancellationToken, Task<IConnection>> connect, string broker, Func<IConnection, Task<int>> run,
        TextWriter error, CancellationToken cancellationToken)
    {
        IConnection connection;
        try
        {
            connection = await connect(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return BrokerError(broker, e, PolicyAction.NothingChanged, error);
        }

        await using (connection)
            return await run(connection);
    }

    /// <summary>The error line for a broker that cannot be reached or refused an operation.</summary>
    public static int BrokerError(string broker, Exception e, string state, TextWriter error, int code = PolicyAction.Refused)
    {
        var reason = e is BrokerUnreachableException or OperationInterruptedException ? DeadLetterQueues.Describe(e) : e.GetBaseException().Message;
        error.WriteLine($"error: RabbitMQ at {broker}: {reason}.{(state.Length > 0 ? " " + state : "")}");
        return code;
    }

    static async Task<bool> ConfirmAsync(string question, bool yes, TextReader? confirm, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        if (yes)
            return true;
        if (confirm is null)
        {
            error.WriteLine($"error: {question.TrimEnd('?')} needs confirmation and stdin is not a terminal: pass --yes. {PolicyAction.NothingChanged}");
            return false;
        }

        output.Write($"{question} [y/N] ");
        var answer = (await confirm.ReadLineAsync(cancellationToken))?.Trim();
        if (answer is "y" or "Y" or "yes" or "Yes" or "YES")
            return true;
        output.WriteLine($"Cancelled. {PolicyAction.NothingChanged}");
        return false;
    }

    static int NotFound(string queue, TextWriter error)
    {
        error.WriteLine($"error: queue '{queue}' not found (404 NOT_FOUND). Dead-letter queues are named <queue>_error or <queue>_skipped.");
        return PolicyAction.Refused;
    }
}
