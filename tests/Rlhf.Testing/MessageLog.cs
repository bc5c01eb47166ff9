using System.Diagnostics;
using Rlhf.Contracts;
using Xunit;

namespace Rlhf.Testing;

/// <summary>One recorded message with the ids of its envelope.</summary>
public sealed record Recorded<T>(T Message, Guid? MessageId, Guid? CorrelationId);

/// <summary>
/// Messages a test saw (published by a host, or delivered to a recording consumer), in arrival order. Tests await
/// the message they want instead of polling. Absence is proved after a positive signal that the system got past the
/// point where the unwanted message would have been recorded: a later (sentinel) message arrived
/// (<see cref="WaitForAsync{T}"/>, then assert on <see cref="Before{T}"/>), the host finished consuming the input
/// (<see cref="ConsumedMessages"/>), or a status counter says so. Never by sleeping and then asserting empty.
/// </summary>
public sealed class MessageLog
{
    public static TimeSpan DefaultTimeout { get; } = TimeSpan.FromSeconds(60);

    readonly Lock gate = new();
    readonly List<Recorded<object>> messages = [];
    TaskCompletionSource added = NewSignal();

    static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Records <paramref name="message"/>; ratings published together (<see cref="RatingsSubmitted"/>) are recorded as the
    /// ratings they carry, each with its feedback id as message id, as consumers see them.
    /// </summary>
    public void Add(object message, Guid? messageId = null, Guid? correlationId = null)
    {
        TaskCompletionSource signal;
        lock (gate)
        {
            if (message is RatingsSubmitted carrier)
                messages.AddRange(carrier.Ratings.Select(r => new Recorded<object>(r.Rating, r.Rating.FeedbackId, r.CorrelationId ?? correlationId)));
            else
                messages.Add(new Recorded<object>(message, messageId, correlationId));
            signal = added;
            added = NewSignal();
        }

        signal.SetResult();
    }

    public IReadOnlyList<Recorded<object>> All
    {
        get
        {
            lock (gate)
                return [.. messages];
        }
    }

    public IReadOnlyList<T> Of<T>() => [.. All.Select(m => m.Message).OfType<T>()];

    public IReadOnlyList<Recorded<T>> EnvelopesOf<T>() =>
        [.. All.Where(m => m.Message is T).Select(m => new Recorded<T>((T)m.Message, m.MessageId, m.CorrelationId))];

    /// <summary>Everything recorded before the first message matching <paramref name="sentinel"/> (all of it if none matches).</summary>
    public IReadOnlyList<Recorded<object>> Before<T>(Func<T, bool> sentinel) =>
        [.. All.TakeWhile(m => !(m.Message is T message && sentinel(message)))];

    public void Clear()
    {
        lock (gate)
            messages.Clear();
    }

    /// <summary>The first recorded <typeparamref name="T"/> matching <paramref name="match"/>, as soon as it is recorded; fails after the timeout.</summary>
    public async Task<T> WaitForAsync<T>(Func<T, bool>? match = null, TimeSpan? timeout = null) =>
        (await WaitForCountAsync(1, match, timeout))[0].Message;

    /// <summary>Completes when at least <paramref name="count"/> matching messages were recorded and returns all that match; fails after the timeout.</summary>
    public async Task<IReadOnlyList<Recorded<T>>> WaitForCountAsync<T>(int count, Func<T, bool>? match = null, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Task next;
            lock (gate)
                next = added.Task;
            var found = EnvelopesOf<T>().Where(m => match?.Invoke(m.Message) ?? true).ToList();
            if (found.Count >= count)
                return found;
            var left = limit - clock.Elapsed;
            if (left <= TimeSpan.Zero)
                throw new TimeoutException($"{found.Count} of {count} {typeof(T).Name} arrived in {limit.TotalSeconds:0.#} s; recorded: {Describe()}.");
            try
            {
                await next.WaitAsync(left, TestContext.Current.CancellationToken);
            }
            catch (TimeoutException)
            {
                // The loop reports what did arrive.
            }
        }
    }

    string Describe() => string.Join(", ", All.Select(m => m.Message.GetType().Name));
}
