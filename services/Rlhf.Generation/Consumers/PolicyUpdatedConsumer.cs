using MassTransit;
using Rlhf.Contracts;
using Rlhf.Generation.Policy;

namespace Rlhf.Generation.Consumers;

/// <summary>
/// Hot-swaps the champion to what the model registry promotes: the message is only a trigger (trusted promotion), its
/// version and blob are not used. Idempotent: a registry that holds what is served changes nothing, and a registered
/// blob that is missing, fails its sha256 check or holds non-finite weights is refused and logged while the served
/// version stays.
/// </summary>
public sealed class PolicyUpdatedConsumer(PolicyManager manager) : IConsumer<PolicyUpdated>
{
    public Task Consume(ConsumeContext<PolicyUpdated> context) =>
        manager.FollowRegistryAsync(nameof(PolicyUpdated), context.Message.PolicyVersion, context.CancellationToken);
}

/// <summary>This instance's own queue, <c>generation-policy-updated-{instance}</c>.</summary>
public sealed class PolicyUpdatedConsumerDefinition(GenerationInstance instance)
    : RegistrySignalDefinition<PolicyUpdatedConsumer, PolicyUpdated>(instance);
