using Microsoft.Extensions.Options;
using Rlhf.Storage;

namespace Rlhf.Reward.Journal;

/// <summary>
/// Enforces <c>Storage:Retention:Comments</c> in the trainer (which owns the comment store): every
/// <c>Storage:Retention:SweepInterval</c> it deletes the comments older than the limit. Does nothing when the limit is unset.
/// </summary>
public sealed class CommentRetentionSweeper(ICommentStore comments, IOptions<StorageOptions> options, TimeProvider time, ILogger<CommentRetentionSweeper> logger)
    : BackgroundService
{
    /// <summary>One sweep: the comments deleted, or null when no retention is set.</summary>
    public async Task<int?> SweepOnceAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Retention.Comments is not { } keep)
            return null;
        var deleted = await comments.DeleteOlderThanAsync(time.GetUtcNow() - keep, cancellationToken);
        if (deleted > 0)
            logger.LogInformation("Retention: deleted {Comments} comments older than {Retention}", deleted, keep);
        return deleted;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.Retention.Comments is null)
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
                logger.LogWarning(error, "Comment retention sweep failed; retried at the next interval");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
