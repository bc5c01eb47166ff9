using Microsoft.Extensions.Options;
using Rlhf.Storage;

namespace Rlhf.Hosting;

/// <summary>
/// The start-up rules of a replay sandbox (<see cref="ReplayOptions.Sandbox"/>): not on the production virtual host (a
/// bus setting, so checked here), and a Redis key prefix of its own (<see cref="ReplayOptions.KeyPrefixProblem"/>).
/// </summary>
static class SandboxGuard
{
    /// <summary>Why a sandbox host must not start with these settings; empty when it may (or is no sandbox).</summary>
    public static IReadOnlyList<string> Problems(ReplayOptions replay, BusOptions bus, RedisOptions redis)
    {
        if (!replay.Sandbox)
            return [];
        var problems = new List<string>();
        if (bus.Transport == BusTransport.RabbitMq
            && string.Equals(bus.RabbitMq.VirtualHost.Trim(), replay.ProductionVirtualHost.Trim(), StringComparison.Ordinal))
            problems.Add($"{ReplayOptions.SectionName}:{nameof(ReplayOptions.Sandbox)} is true but {BusOptions.SectionName}:RabbitMq:VirtualHost is " +
                $"'{bus.RabbitMq.VirtualHost}', the production virtual host ({ReplayOptions.SectionName}:{nameof(ReplayOptions.ProductionVirtualHost)}): " +
                "a sandbox consumes replayed events from a virtual host of its own (create one with `rabbitmqctl add_vhost rlhf-sandbox` and set " +
                "Bus:RabbitMq:VirtualHost=rlhf-sandbox).");
        if (replay.KeyPrefixProblem(redis) is { } prefix)
            problems.Add(prefix);
        return problems;
    }
}

/// <summary>Validates <see cref="ReplayOptions"/> against the bus and Redis settings at start.</summary>
sealed class ReplayOptionsValidator(IOptions<BusOptions> bus, IOptions<RedisOptions> redis) : IValidateOptions<ReplayOptions>
{
    public ValidateOptionsResult Validate(string? name, ReplayOptions options) =>
        SandboxGuard.Problems(options, bus.Value, redis.Value) is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
}
