using System.Collections.Concurrent;
using MassTransit;
using Rlhf.Contracts;

namespace Rlhf.Generation.Tests.Support;

/// <summary>Every <see cref="RolloutGenerated"/> a test host's bus delivered, with its correlation id.</summary>
public sealed class RecordedRollouts
{
    readonly ConcurrentQueue<(RolloutGenerated Message, Guid? CorrelationId)> received = new();

    public IReadOnlyList<(RolloutGenerated Message, Guid? CorrelationId)> All => received.ToList();

    public void Add(RolloutGenerated message, Guid? correlationId) => received.Enqueue((message, correlationId));

    /// <summary>Waits until <paramref name="count"/> events of the group arrived (or the timeout passed) and returns them.</summary>
    public async Task<IReadOnlyList<(RolloutGenerated Message, Guid? CorrelationId)>> WaitForGroupAsync(string groupId, int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var group = received.Where(r => r.Message.GroupId == groupId).ToList();
            if (group.Count >= count || DateTime.UtcNow > deadline)
                return group;
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>Queue name of the recording consumer (unique per test on a shared broker).</summary>
public sealed record RecorderEndpoint(string Name);

public sealed class RolloutRecordingConsumer(RecordedRollouts recorded) : IConsumer<RolloutGenerated>
{
    public Task Consume(ConsumeContext<RolloutGenerated> context)
    {
        recorded.Add(context.Message, context.CorrelationId);
        return Task.CompletedTask;
    }
}

public sealed class RolloutRecordingConsumerDefinition : ConsumerDefinition<RolloutRecordingConsumer>
{
    public RolloutRecordingConsumerDefinition(RecorderEndpoint endpoint)
    {
        Endpoint(e =>
        {
            e.Name = endpoint.Name;
            e.Temporary = true;
        });
    }
}
