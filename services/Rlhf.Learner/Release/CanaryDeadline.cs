using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Learner.Training;
using Rlhf.Storage;

namespace Rlhf.Learner.Release;

/// <summary>
/// Rolls a canary back when it has run <see cref="CanaryOptions.MaxDuration"/> without a verdict (fail closed): a canary
/// that too few users rate would otherwise hold training and promotion forever. Looks every
/// <see cref="CheckInterval"/>; the start time is the one saved in the learner's checkpoint, so a restart does not reset it.
/// </summary>
public sealed class CanaryDeadline(LearnerEngine engine, ILiveFeedbackStore feedback, IBus bus, IOptions<LearnerOptions> options, TimeProvider time,
    ILogger<CanaryDeadline> logger) : BackgroundService
{
    readonly CanaryOptions settings = options.Value.Canary;

    /// <summary>How often the deadline is looked at: a twentieth of it, between 1 and 30 seconds.</summary>
    public TimeSpan CheckInterval => TimeSpan.FromTicks(Math.Clamp(settings.MaxDuration.Ticks / 20, TimeSpan.TicksPerSecond, 30 * TimeSpan.TicksPerSecond));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (settings.MaxDuration <= TimeSpan.Zero)
            return;
        using var timer = new PeriodicTimer(CheckInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await CheckAsync(bus, stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Checking the canary's deadline failed; trying again in {Interval}", CheckInterval);
            }
        }
    }

    /// <summary>Rolls the live canary back when its time is up; false when there is none or it still has time.</summary>
    public async Task<bool> CheckAsync(IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        if (engine.LiveCanary is not { } canary || time.GetUtcNow() - canary.StartedAt < settings.MaxDuration)
            return false;
        var (candidate, champion) = await feedback.ReadCanaryAsync(canary.Version, canary.ChampionVersion, cancellationToken);
        var verdict = CanaryJudge.Expired(candidate, champion, settings);
        logger.LogWarning("Canary {Canary}: {Reason}", canary.Version, verdict.Reason);
        await engine.ConcludeCanaryAsync(canary.Version, CanaryOutcome.RolledBack, verdict.Reason, publisher, cancellationToken);
        return true;
    }
}
