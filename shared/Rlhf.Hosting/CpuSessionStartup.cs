using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Rlhf.Hosting;

/// <summary>
/// At start, gives the process a session of its own at the nice value of a service's <c>SessionNice</c> setting (when
/// set), so the whole service yields the CPU to other processes (<see cref="CpuSession"/>); logs what it did or why not.
/// </summary>
public sealed class CpuSessionStartup(string setting, int nice, ILogger<CpuSessionStartup> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (nice == 0)
            return Task.CompletedTask;
        if (CpuSession.NotInEffect() is { } why)
        {
            logger.LogWarning("{Setting} {Nice} not applied: {Why}", setting, nice, why);
            return Task.CompletedTask;
        }

        try
        {
            logger.LogInformation("{Setting}: the process runs in a session of its own at autogroup nice {Nice}", setting, CpuSession.TakeOwn(nice));
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(error, "{Setting} {Nice} not applied", setting, nice);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

public static class CpuSessionStartupExtensions
{
    /// <summary>
    /// Registers <see cref="CpuSessionStartup"/> for the setting <paramref name="setting"/> (e.g. <c>Learner:SessionNice</c>),
    /// read from <typeparamref name="TOptions"/> by <paramref name="nice"/> when the host starts.
    /// </summary>
    public static IServiceCollection AddCpuSession<TOptions>(this IServiceCollection services, string setting, Func<TOptions, int> nice)
        where TOptions : class =>
        services.AddHostedService(provider => new CpuSessionStartup(setting, nice(provider.GetRequiredService<IOptions<TOptions>>().Value),
            provider.GetRequiredService<ILogger<CpuSessionStartup>>()));
}
