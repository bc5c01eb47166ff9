using MassTransit;
using Rlhf.Reward.Journal;

namespace Rlhf.Reward.Training;

/// <summary>
/// Trains reward-model rounds in the background, so recording feedback in the journal never waits for a round: at start
/// it restores the state (promoted version plus journal) and trains what a crash left due; then it trains whenever the
/// journal signals a due round (<see cref="RoundSignal"/>) and, once a second, checks the time cut of
/// <see cref="RewardOptions.RoundInterval"/>. A failure (Redis gone) is logged and retried on the next wake-up; the
/// journal keeps the rankings.
/// </summary>
public sealed class RoundScheduler(RewardStateRestorer restorer, TrainingRounds rounds, RoundSignal signal, IBus bus, ILogger<RoundScheduler> logger)
    : BackgroundService
{
    static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await restorer.EnsureRestoredAsync(stoppingToken);
                await rounds.TrainDueRoundsAsync(bus, stoppingToken);
                failures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception error)
            {
                failures++;
                logger.LogWarning(error, "Restoring or training the reward model failed (attempt {Attempt}); retrying", failures);
            }

            try
            {
                await signal.WaitAsync(failures == 0 ? Tick : TimeSpan.FromSeconds(Math.Min(30, failures * 2)), stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
