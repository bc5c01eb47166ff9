using MassTransit;

namespace Rlhf.Reward.Training;

/// <summary>
/// Restores the reward model at start-up (promoted version + training journal) and trains the rounds a crash left
/// due, instead of waiting for the next message. When Redis is not reachable yet, the first consumed message retries it.
/// </summary>
public sealed class RewardStartup(RewardPipeline pipeline, IBus bus, ILogger<RewardStartup> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await pipeline.EnsureReadyAsync(bus, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception error)
        {
            logger.LogWarning(error, "Restoring the reward state at start-up failed; the first feedback or rollout message retries it");
        }
    }
}
