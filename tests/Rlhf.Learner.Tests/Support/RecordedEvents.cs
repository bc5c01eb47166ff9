using System.Collections.Concurrent;
using MassTransit;
using Rlhf.Contracts;

namespace Rlhf.Learner.Tests.Support;

/// <summary>Every <see cref="PolicyUpdated"/> and <see cref="PolicyRejected"/> a test bus delivered.</summary>
public sealed class RecordedEvents
{
    readonly ConcurrentQueue<object> received = new();

    public IReadOnlyList<PolicyUpdated> Updates => received.OfType<PolicyUpdated>().ToList();

    public IReadOnlyList<PolicyRejected> Rejections => received.OfType<PolicyRejected>().ToList();

    public void Add(object message) => received.Enqueue(message);

    /// <summary>The first recorded <typeparamref name="T"/> matching <paramref name="match"/>; fails after the timeout.</summary>
    public async Task<T> WaitForAsync<T>(Func<T, bool>? match = null, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var found = received.OfType<T>().FirstOrDefault(m => match?.Invoke(m) ?? true);
            if (found is not null)
                return found;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"No {typeof(T).Name} arrived; recorded: {string.Join(", ", received.Select(m => m.GetType().Name))}.");
            await Task.Delay(25, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>Queue name of the recording consumer (unique per test on a shared broker).</summary>
public sealed record RecorderEndpoint(string Name);

public sealed class LearnerEventsRecorder(RecordedEvents recorded) : IConsumer<PolicyUpdated>, IConsumer<PolicyRejected>
{
    public Task Consume(ConsumeContext<PolicyUpdated> context)
    {
        recorded.Add(context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<PolicyRejected> context)
    {
        recorded.Add(context.Message);
        return Task.CompletedTask;
    }
}

public sealed class LearnerEventsRecorderDefinition : ConsumerDefinition<LearnerEventsRecorder>
{
    public LearnerEventsRecorderDefinition(RecorderEndpoint endpoint) => Endpoint(e =>
    {
        e.Name = endpoint.Name;
        e.Temporary = true;
    });
}
