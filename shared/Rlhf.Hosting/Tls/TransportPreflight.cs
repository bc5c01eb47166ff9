using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Rlhf.Hosting.Tls;

/// <summary>
/// Runs the host's <see cref="TransportProbe"/>s (the broker, Redis) before any hosted service starts, the bus included:
/// a TLS setting that does not match the server (TLS against a plain port, plain text against a TLS port, a certificate
/// this client does not trust) stops the host with a message naming the setting, instead of a bus or Redis client
/// retrying forever. A server that does not answer is only logged: the clients retry as before.
/// </summary>
sealed class TransportPreflight(IEnumerable<TransportProbe> probes, ILogger<TransportPreflight> logger) : IHostedLifecycleService
{
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var outcomes = await Task.WhenAll(probes.Select(p => p.CheckAsync(cancellationToken)));
        foreach (var outcome in outcomes.Where(o => !o.IsWrong))
        {
            if (outcome.IsKnown)
                logger.LogDebug("Transport check: {Outcome}", outcome.Message);
            else
                logger.LogWarning("Transport check: {Outcome}", outcome.Message);
        }

        var wrong = outcomes.Where(o => o.IsWrong).Select(o => o.Message).ToList();
        if (wrong.Count > 0)
            throw new InvalidOperationException("TLS settings do not match the servers: " + string.Join(" ", wrong));
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
