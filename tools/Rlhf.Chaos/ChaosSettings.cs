using Rlhf.ServiceProcesses;

namespace Rlhf.Chaos;

/// <summary>What <c>rlhf chaos</c> breaks.</summary>
public enum Fault
{
    /// <summary>Stop the RabbitMQ node (rabbitmqctl stop), wait a few seconds, start it on the same data.</summary>
    RabbitMq,

    /// <summary>Shut Redis down (SHUTDOWN flushes its AOF) and start it on the same data.</summary>
    Redis,

    /// <summary>kill -9 the reward service's process, then start it again.</summary>
    Reward,

    /// <summary>kill -9 the learner's process, then start it again.</summary>
    Learner,

    /// <summary>kill -9 the feedback service's process (requests in flight die with it), then start it again.</summary>
    Feedback,

    /// <summary>kill -9 the generation service's process (chat requests in flight die with it), then start it again.</summary>
    Generation,

    /// <summary>Cluster runs: stop the first RabbitMQ node (the one every service connects to first), start it again later.</summary>
    RabbitMqNodeStop,

    /// <summary>Cluster runs: kill -9 the first RabbitMQ node's Erlang VM, start it again later.</summary>
    RabbitMqNodeKill,

    /// <summary>
    /// Cluster runs: cut the first node's links to the other two (scripts/infra.sh cluster partition-node: wrong Erlang
    /// cookies, no iptables), so it pauses as the minority while its VM runs on; heal the partition later.
    /// </summary>
    RabbitMqNodePartition,
}

public static class Faults
{
    public static readonly IReadOnlyList<Fault> All = [Fault.RabbitMq, Fault.Redis, Fault.Reward, Fault.Learner, Fault.Feedback, Fault.Generation];

    /// <summary>The faults of a cluster run (<c>--cluster</c>): one node stopped, one node killed, then the rest.</summary>
    public static readonly IReadOnlyList<Fault> Cluster =
        [Fault.RabbitMqNodeStop, Fault.RabbitMqNodeKill, Fault.RabbitMqNodePartition, Fault.Redis, Fault.Reward, Fault.Learner, Fault.Feedback, Fault.Generation];

    /// <summary>Every fault there is.</summary>
    public static readonly IReadOnlyList<Fault> Known = [.. All, Fault.RabbitMqNodeStop, Fault.RabbitMqNodeKill, Fault.RabbitMqNodePartition];

    /// <summary>Faults on one node of a cluster (<c>--cluster</c> only).</summary>
    public static bool IsNodeFault(Fault fault) => fault is Fault.RabbitMqNodeStop or Fault.RabbitMqNodeKill or Fault.RabbitMqNodePartition;

    public static string Name(Fault fault) => fault switch
    {
        Fault.RabbitMq => "rabbitmq",
        Fault.Redis => "redis",
        Fault.Reward => "reward",
        Fault.Learner => "learner",
        Fault.Feedback => "feedback",
        Fault.Generation => "generation",
        Fault.RabbitMqNodeStop => "rabbitmq-node-stop",
        Fault.RabbitMqNodeKill => "rabbitmq-node-kill",
        Fault.RabbitMqNodePartition => "rabbitmq-node-partition",
        _ => throw new ArgumentOutOfRangeException(nameof(fault)),
    };

    public static Fault? TryParse(string name) => Known.Where(f => string.Equals(Name(f), name, StringComparison.OrdinalIgnoreCase)).Cast<Fault?>().FirstOrDefault();

    /// <summary>The services whose readiness a fault takes away: every service for the servers, one for a killed process.</summary>
    public static IReadOnlyList<string> Affected(Fault fault) => fault switch
    {
        Fault.RabbitMq or Fault.Redis or Fault.RabbitMqNodeStop or Fault.RabbitMqNodeKill or Fault.RabbitMqNodePartition => LocalServices.Names,
        _ => [ProcessName(fault)],
    };

    /// <summary>The service process a kill fault takes down (<c>Rlhf.{name}.dll</c>).</summary>
    public static string ProcessName(Fault fault) => fault switch
    {
        Fault.Reward => "Reward",
        Fault.Learner => "Learner",
        Fault.Feedback => "Feedback",
        Fault.Generation => "Generation",
        _ => throw new ArgumentOutOfRangeException(nameof(fault), $"{fault} is a server, not a service process"),
    };
}

/// <summary>Settings of one <c>rlhf chaos</c> run.</summary>
/// <param name="Feedback">Feedback submissions in all (rankings and ratings).</param>
/// <param name="Faults">Faults to inject, each once, spread over the submissions in this order.</param>
/// <param name="Clients">Concurrent clients.</param>
/// <param name="RabbitMqPort">AMQP port of the node this run starts (and restarts, and stops).</param>
/// <param name="RedisPort">Port of the Redis server this run starts.</param>
/// <param name="ServicePort">The services listen on ServicePort + 1..4.</param>
/// <param name="DrainTimeout">Longest wait, after the last submission, for every acknowledged id to reach the journal.</param>
/// <param name="SubmitTimeout">How long a client retries one submission before it gives up on it.</param>
/// <param name="Seed">Seed of the clients and the bootstrap.</param>
/// <param name="OutDirectory">Run folder: report.md, chaos.json, the services' logs.</param>
/// <param name="CacheDirectory">Bootstrap checkpoint cache.</param>
/// <param name="BootstrapSteps">Training steps of the small policy the services load.</param>
/// <param name="RabbitMqDownSeconds">How long the RabbitMQ node stays stopped.</param>
/// <param name="RedisDownSeconds">How long Redis stays stopped.</param>
/// <param name="ProcessRestartDelay">Between kill -9 and the new process (a supervisor's restart delay).</param>
/// <param name="Cluster">Run on a 3-node RabbitMQ cluster (RabbitMqPort, +1, +2) instead of one node.</param>
public sealed record ChaosSettings(
    int Feedback,
    IReadOnlyList<Fault> Faults,
    int Clients,
    int RabbitMqPort,
    int RedisPort,
    int ServicePort,
    TimeSpan DrainTimeout,
    TimeSpan SubmitTimeout,
    int Seed,
    string OutDirectory,
    string CacheDirectory,
    int BootstrapSteps,
    int RabbitMqDownSeconds = 3,
    int RedisDownSeconds = 1,
    double ProcessRestartDelay = 1.0,
    bool Cluster = false)
{
    /// <summary>AMQP ports of the run's RabbitMQ nodes: one, or three for a cluster run.</summary>
    public IReadOnlyList<int> RabbitMqPorts => Cluster ? [RabbitMqPort, RabbitMqPort + 1, RabbitMqPort + 2] : [RabbitMqPort];
}
