using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Generation.Rollouts;

/// <summary>
/// Stores the rollouts of one response (feedback validates against the store, so a failure there fails the
/// response) and publishes them as <see cref="RolloutGenerated"/>. Publishing never fails the response: while the
/// broker is unreachable the events are dropped after <see cref="GenerationOptions.PublishTimeoutMs"/>, logged with
/// their ids and counted in the status; the rollouts stay in the store.
/// </summary>
public sealed class RolloutRecorder(
    IRolloutStore store,
    IPublishEndpoint publisher,
    GenerationStats stats,
    IOptions<GenerationOptions> options,
    ILogger<RolloutRecorder> logger)
{
    public Task SaveAsync(IReadOnlyList<RolloutGenerated> rollouts, CancellationToken cancellationToken) =>
        store.SaveGroupAsync(rollouts, cancellationToken);

    /// <summary>Publishes every rollout with the request's correlation id; returns how many the broker did not take.</summary>
    public async Task<int> PublishAsync(IReadOnlyList<RolloutGenerated> rollouts, Guid correlationId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(options.Value.PublishTimeoutMs));
        var outcomes = await Task.WhenAll(rollouts.Select(async rollout =>
        {
            try
            {
                await publisher.Publish(rollout, context => context.CorrelationId = correlationId, timeout.Token);
                return null;
            }
            catch (Exception error)
            {
                return error;
            }
        }));

        var failed = outcomes.Where(e => e is not null).ToList();
        if (failed.Count == 0)
            return 0;
        stats.PublishFailed(failed.Count);
        var ids = rollouts.Where((_, i) => outcomes[i] is not null).Select(r => r.RolloutId).ToList();
        logger.LogError(failed[0], "Could not publish {Failed} of {Count} RolloutGenerated events of group {GroupId} ({RolloutIds}); " +
            "they are stored, served, and not delivered downstream", failed.Count, rollouts.Count, rollouts[0].GroupId, ids);
        return failed.Count;
    }
}
