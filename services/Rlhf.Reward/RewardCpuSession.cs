using Microsoft.Extensions.Options;
using Rlhf.Hosting;

namespace Rlhf.Reward;

/// <summary>At start, gives the process a session of its own at <see cref="RewardOptions.SessionNice"/> (when set).</summary>
public sealed class RewardCpuSession(IOptions<RewardOptions> options, ILogger<RewardCpuSession> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var nice = options.Value.SessionNice;
        if (nice == 0)
            return Task.CompletedTask;
        try
        {
            if (CpuSession.TakeOwn(nice) is { } applied)
                logger.LogInformation("The reward service runs in a session of its own at autogroup nice {Nice}", applied);
            else
                logger.LogWarning("Reward:SessionNice {Nice} not applied: this kernel has no autogroup (only Linux with CONFIG_SCHED_AUTOGROUP)", nice);
        }
        catch (IOException error)
        {
            logger.LogWarning(error, "Reward:SessionNice {Nice} not applied", nice);
        }
        catch (UnauthorizedAccessException error)
        {
            logger.LogWarning(error, "Reward:SessionNice {Nice} not applied", nice);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
