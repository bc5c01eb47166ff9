using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Learner.Privacy;

namespace Rlhf.Learner.Consumers;

/// <summary>
/// A user's data was deleted: the learner's training steps leave the user's rollouts and demonstrations out from now on,
/// those already in a batch waiting for the training lock included, and a step that trained on them meanwhile is undone
/// before its checkpoint (see <see cref="ErasureGuard"/>). Takes no lock, so it is heard while a step trains.
/// </summary>
public sealed class UserDataDeletedConsumer(ErasureGuard guard, ILogger<UserDataDeletedConsumer> logger) : IConsumer<UserDataDeleted>
{
    public Task Consume(ConsumeContext<UserDataDeleted> context)
    {
        guard.Record(context.Message);
        logger.LogInformation("A user's data was deleted: {Groups} requests and {Rollouts} answers are left out of training from now on",
            context.Message.GroupIds.Count, context.Message.RolloutIds.Count);
        return Task.CompletedTask;
    }
}

/// <summary>Queue <c>{prefix}-user-data-deleted</c>.</summary>
public sealed class UserDataDeletedConsumerDefinition : ConsumerDefinition<UserDataDeletedConsumer>
{
    public UserDataDeletedConsumerDefinition(IOptions<LearnerOptions> options)
    {
        EndpointName = QueueNames.Shared(options.Value.QueuePrefix, "user-data-deleted");
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<UserDataDeletedConsumer> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.UseMessageRetry(retry => retry.Intervals(1_000, 5_000, 15_000));
}
