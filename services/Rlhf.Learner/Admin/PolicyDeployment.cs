using Rlhf.Storage;

namespace Rlhf.Learner.Admin;

/// <summary>Publishes events in order; calls <c>confirmed</c> with each one's index once the broker took it, and throws on the first failure.</summary>
public delegate Task EventPublisher(IReadOnlyList<object> messages, Action<int> confirmed, CancellationToken cancellationToken);

/// <summary>
/// What an operator's policy action works on: the deployment's model registry, weight blobs and live-feedback counts,
/// and how its events reach the services. The learner's admin routes pass its own stores and bus; the CLI's direct
/// path (<c>--direct</c>) connects to Redis and RabbitMQ itself.
/// </summary>
/// <param name="KeyPrefix">The Redis key prefix, as messages name the deployment.</param>
/// <param name="BusDisplay">Where events go, as messages name it (e.g. <c>RabbitMQ localhost:5672/</c>), without credentials.</param>
public sealed record PolicyDeployment(IModelRegistry Registry, IBlobStore Blobs, ILiveFeedbackStore LiveFeedback, string KeyPrefix, string BusDisplay,
    EventPublisher Publish);
