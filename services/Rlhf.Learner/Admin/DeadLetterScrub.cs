using RabbitMQ.Client;
using Rlhf.Archive;
using Rlhf.Storage;

namespace Rlhf.Learner.Admin;

/// <summary>
/// Removes deleted users' messages from dead-letter queues (<c>rlhf errors scrub</c>, the learner's
/// <c>POST /v1/admin/errors/scrub</c>): each queue's messages present at the start are fetched unacknowledged, those a
/// tombstone covers (the same rule replay and export apply to archived events: the user's requests and answers, or the
/// user as <c>userId</c>/<c>raterId</c> before the deletion) are acknowledged, i.e. deleted, and the rest are returned
/// to the queue, in order, where they were. Nothing is republished, so a crash part-way returns every unacknowledged
/// message to the queue and duplicates none; a second run finds nothing more to remove.
/// </summary>
public static class DeadLetterScrub
{
    /// <summary>What one queue held and lost.</summary>
    public sealed record QueueResult(string Queue, bool Found, int Scanned, int Removed)
    {
        public int Kept => Scanned - Removed;
    }

    /// <summary>Scrubs each queue in turn; writes one line per queue and returns 0, or 2 when a queue failed part-way (the rest untouched).</summary>
    /// <param name="broker">The broker as messages name it (host:port/vhost, no credentials).</param>
    public static async Task<int> RunAsync(IConnection connection, string broker, IReadOnlyList<string> queues, ErasedData erased, TextWriter output,
        TextWriter error, CancellationToken cancellationToken)
    {
        var filter = new EventFilter { Erased = erased };
        var results = new List<QueueResult>();
        foreach (var queue in queues)
        {
            var (deadLetter, _) = DeadLetterQueues.Resolve(queue);
            try
            {
                var result = await ScrubAsync(connection, deadLetter, filter, cancellationToken);
                results.Add(result);
                output.WriteLine(result.Found
                    ? $"{deadLetter}: {result.Removed} of {result.Scanned} message(s) removed (deleted users), {result.Kept} kept in order."
                    : $"{deadLetter}: not found (skipped).");
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return DeadLetterActions.BrokerError(broker, e,
                    $"{deadLetter} is unchanged (its unacknowledged messages went back); removed {results.Sum(r => r.Removed)} message(s) from the queues before it.",
                    error, results.Count == 0 ? PolicyAction.Refused : PolicyAction.FailedPartway);
            }
        }

        output.WriteLine($"Removed {results.Sum(r => r.Removed)} message(s) of deleted users from {results.Count(r => r.Found)} queue(s) " +
            $"({erased.Users} deleted user(s) known).");
        return PolicyAction.Done;
    }

    /// <summary>One dead-letter queue: the messages present at the start, those of deleted users removed.</summary>
    public static async Task<QueueResult> ScrubAsync(IConnection connection, string deadLetter, EventFilter filter, CancellationToken cancellationToken)
    {
        var count = await DeadLetterQueues.MessageCountAsync(connection, deadLetter, cancellationToken);
        if (count is not { } present)
            return new QueueResult(deadLetter, Found: false, 0, 0);
        if (present == 0 || filter.Erased.IsEmpty)
            return new QueueResult(deadLetter, Found: true, (int)present, 0);

        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        var deliveries = new List<(ulong Tag, bool Erased)>();
        try
        {
            while (deliveries.Count < present)
            {
                var result = await channel.BasicGetAsync(deadLetter, autoAck: false, cancellationToken);
                if (result is null)
                    break;
                deliveries.Add((result.DeliveryTag, IsErased(filter, result.Body.Span)));
            }

            foreach (var (tag, erased) in deliveries)
            {
                if (erased)
                    await channel.BasicAckAsync(tag, multiple: false, cancellationToken);
            }
        }
        finally
        {
            // Back where they were, in order (also after a failure: nothing acknowledged is lost, nothing is copied).
            foreach (var (tag, erased) in deliveries)
            {
                if (!erased)
                    await channel.BasicNackAsync(tag, multiple: false, requeue: true, CancellationToken.None);
            }
        }

        return new QueueResult(deadLetter, Found: true, deliveries.Count, deliveries.Count(d => d.Erased));
    }

    /// <summary>
    /// True when the dead-lettered body (a MassTransit envelope) is an event a tombstone covers; a body that is not one is
    /// kept. Ratings published together are one message: it is erased when a tombstone covers any of them (erasure wins
    /// over the other ratings it carried, which are dead letters already).
    /// </summary>
    public static bool IsErased(EventFilter filter, ReadOnlySpan<byte> body) =>
        StreamArchiveReader.ToLines(body, offset: null).Any(filter.IsErasedLine);
}
