using MassTransit;
using Rlhf.Contracts;
using Rlhf.Generation.Policy;

namespace Rlhf.Generation.Consumers;

/// <summary>
/// Starts serving the registry's canary next to the champion. The message is only a trigger: a canary the registry
/// does not hold (a forged or stale message) changes nothing.
/// </summary>
public sealed class CanaryStartedConsumer(PolicyManager manager) : IConsumer<CanaryStarted>
{
    public Task Consume(ConsumeContext<CanaryStarted> context) =>
        manager.FollowRegistryAsync(nameof(CanaryStarted), context.Message.CandidateVersion, context.CancellationToken);
}

/// <summary>This instance's own queue, <c>generation-canary-started-{instance}</c>.</summary>
public sealed class CanaryStartedConsumerDefinition(GenerationInstance instance)
    : RegistrySignalDefinition<CanaryStartedConsumer, CanaryStarted>(instance);
