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
        if (CpuSession.NotInEffect() is { } why)
        {
            logger.LogWarning("Reward:SessionNice {Nice} not applied: {Why}", nice, why);
            return Task.CompletedTask;
        }

        try
        {
            logger.LogInformation("The reward service runs in a session of its own at autogroup nice {Nice}", CpuSession.TakeOwn(nice));
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(error, "Reward:SessionNice {Nice} not applied", nice);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
