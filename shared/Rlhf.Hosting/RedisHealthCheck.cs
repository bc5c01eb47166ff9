using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Rlhf.Hosting;

/// <summary>Ready when Redis answers a PING within the check's timeout.</summary>
sealed class RedisHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var endpoints = string.Join(",", redis.GetEndPoints().Select(e => e.ToString()));
        if (!redis.IsConnected)
            return HealthCheckResult.Unhealthy($"Redis at {endpoints} is not connected");
        try
        {
            var latency = await redis.GetDatabase().PingAsync().WaitAsync(Timeout, cancellationToken);
            return HealthCheckResult.Healthy($"Redis at {endpoints} answered in {latency.TotalMilliseconds:F1} ms");
        }
        catch (Exception error) when (error is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"Redis at {endpoints} did not answer: {error.Message}");
        }
    }
}
