using MassTransit;
using Microsoft.Extensions.Options;

namespace Rlhf.Reward.Scoring;

/// <summary>
/// A scorer replica's background loop: follows the registry at start and every <see cref="RewardOptions.RegistryPollInterval"/>
/// (so a <c>RewardModelUpdated</c> lost while the replica was starting still reaches it); a failure (Redis down, a damaged
/// blob) is logged and retried on the next tick while the loaded version keeps scoring.
/// </summary>
public sealed class ScorerStartup(PromotedVersionFollower follower, IBus bus, IOptions<RewardOptions> options, ILogger<ScorerStartup> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await follower.FollowAsync(bus, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception error)
            {
                logger.LogWarning(error, "Reading the promoted reward model failed; retrying in {Interval}", options.Value.RegistryPollInterval);
            }

            try
            {
                await Task.Delay(options.Value.RegistryPollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
