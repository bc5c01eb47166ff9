using Microsoft.Extensions.Options;
using Rlhf.Reward.Training;
using Rlhf.Storage;

namespace Rlhf.Reward.Journal;

/// <summary>
/// Enforces <c>Storage:Retention:Journal</c> in the trainer (which owns the journal): every
/// <c>Storage:Retention:SweepInterval</c> the journal entries recorded longer ago than the limit become tombstones and
/// their rankings leave the training set (see <see cref="FeedbackRecorder.ExpireAsync"/>). Does nothing when the limit is unset.
/// </summary>
public sealed class JournalRetentionSweeper(RewardPipeline pipeline, IOptions<StorageOptions> options, TimeProvider time,
    ILogger<JournalRetentionSweeper> logger) : BackgroundService
{
    /// <summary>One sweep: the journal entries expired and training rankings dropped, or null when no retention is set.</summary>
    public async Task<(int JournalEntries, int Rankings)?> SweepOnceAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Retention.Journal is not { } keep)
            return null;
        var (entries, rankings) = await pipeline.ExpireJournalAsync(time.GetUtcNow() - keep, cancellationToken);
        if (entries > 0 || rankings > 0)
            logger.LogInformation("Retention: {Entries} reward journal entries older than {Retention} expired, {Rankings} training rankings dropped",
                entries, keep, rankings);
        return (entries, rankings);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.Retention.Journal is null)
            return;
        using var timer = new PeriodicTimer(options.Value.Retention.SweepInterval, time);
        do
        {
            try
            {
                await SweepOnceAsync(stoppingToken);
            }
            catch (Exception error) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(error, "Journal retention sweep failed; retried at the next interval");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
