using MassTransit;
using Rlhf.Contracts;
using Rlhf.Generation.Policy;

namespace Rlhf.Generation.Consumers;

/// <summary>
/// A canary ended: converges to the registry, which drops the canary (rolled back or aborted) or makes it the champion
/// (promoted; its loaded model is kept). The message's outcome is only what the log expects; the registry decides.
/// </summary>
public sealed class CanaryConcludedConsumer(PolicyManager manager) : IConsumer<CanaryConcluded>
{
    public Task Consume(ConsumeContext<CanaryConcluded> context)
    {
        var message = context.Message;
        var expectedChampion = message.Outcome == CanaryOutcome.Promoted ? message.CandidateVersion : message.ChampionVersion;
        return manager.FollowRegistryAsync(nameof(CanaryConcluded), expectedChampion, context.CancellationToken);
    }
}

/// <summary>This instance's own queue, <c>generation-canary-concluded-{instance}</c>.</summary>
public sealed class CanaryConcludedConsumerDefinition(GenerationInstance instance)
    : RegistrySignalDefinition<CanaryConcludedConsumer, CanaryConcluded>(instance);
