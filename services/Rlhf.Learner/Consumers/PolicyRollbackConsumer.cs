using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Learner.Training;

namespace Rlhf.Learner.Consumers;

/// <summary>
/// Follows an operator's rollback (<see cref="PolicyUpdated.IsRollback"/>): the learner continues from the rolled-back
/// weights, so the rollouts generation now produces are on-policy again. The learner's own updates are ignored.
/// </summary>
public sealed class PolicyRollbackConsumer(LearnerEngine engine) : IConsumer<PolicyUpdated>
{
    public Task Consume(ConsumeContext<PolicyUpdated> context) => context.Message.IsRollback
        ? engine.FollowRollbackAsync(context.Message.PolicyVersion, context.Message.Blob, context, context.CancellationToken)
        : Task.CompletedTask;
}

/// <summary>Queue <c>{prefix}-policy-rollback</c>.</summary>
public sealed class PolicyRollbackConsumerDefinition : ConsumerDefinition<PolicyRollbackConsumer>
{
    public PolicyRollbackConsumerDefinition(IOptions<LearnerOptions> options)
    {
        EndpointName = QueueNames.Shared(options.Value.QueuePrefix, "policy-rollback");
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<PolicyRollbackConsumer> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(1_000, 5_000, 15_000));
}
