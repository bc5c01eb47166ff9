using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Rlhf.ServiceProcesses;

namespace Rlhf.Chaos;

/// <summary>
/// The RabbitMQ node (or 3-node cluster) and Redis server of one chaos run, through <c>scripts/infra.sh</c> on the run's
/// own ports: started empty, restarted as faults, stopped at the end. The script's output is appended to
/// <c>infra.log</c> in the run folder.
/// </summary>
public sealed class ChaosInfrastructure(IReadOnlyList<int> rabbitMqPorts, int redisPort, string runDirectory)
{
    readonly string script = LocalServices.InfraScript();
    readonly SemaphoreSlim logLock = new(1, 1);
    readonly int rabbitMqPort = rabbitMqPorts[0];

    bool Cluster => rabbitMqPorts.Count > 1;

    /// <summary>The first (or only) node's AMQP port: every service connects there first.</summary>
    public int RabbitMqPort => rabbitMqPort;

    public int RedisPort => redisPort;

    public string Redis => $"localhost:{redisPort.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Starts both servers with empty data. Fails when either port is served by something infra.sh did not start
    /// (a fault injection must not stop someone else's server).
    /// </summary>
    public async Task UpAsync(CancellationToken cancellationToken)
    {
        // A node left by an interrupted run on these ports is ours (infra.sh's marker says so): stop it, then start fresh.
        if (Cluster)
            await RunAsync(["cluster", "down"], new Dictionary<string, string>(), cancellationToken);
        await RunAsync(["down"], new Dictionary<string, string>(), cancellationToken);
        // Node 1 of a cluster starts here, before `cluster up`: it needs the cluster's partition handling too.
        var upEnvironment = new Dictionary<string, string> { ["INFRA_FRESH"] = "1" };
        if (Cluster)
            upEnvironment["RABBITMQ_PARTITION_HANDLING"] = "pause_minority";
        var (code, output) = await RunAsync(["up"], upEnvironment, cancellationToken);
        if (code != 0)
            throw new InvalidOperationException($"scripts/infra.sh up failed (exit {code}): {Last(output)}; see infra.log in the run folder.");
        if (!output.Contains("rabbitmq: up (started)", StringComparison.Ordinal) || !output.Contains("redis: up (started)", StringComparison.Ordinal))
            throw new InvalidOperationException(
                $"RabbitMQ on port {rabbitMqPort} or Redis on port {redisPort} was already running and not started by infra.sh; " +
                "choose free ports (--rabbitmq-port, --redis-port).");
        if (!Cluster)
            return;
        // Node 1 runs; the others start empty and join it.
        (code, output) = await RunAsync(["cluster", "up"], new Dictionary<string, string> { ["INFRA_FRESH"] = "1" }, cancellationToken);
        var running = output.Split('\n').FirstOrDefault(l => l.Contains("running nodes:", StringComparison.Ordinal)) ?? "";
        if (code != 0 || rabbitMqPorts.Any(p => !running.Contains($"rabbit{p}@", StringComparison.Ordinal)))
            throw new InvalidOperationException($"scripts/infra.sh cluster up did not make one cluster of ports {string.Join(", ", rabbitMqPorts)} " +
                $"(exit {code}): {Last(output)}; see infra.log in the run folder.");
    }

    /// <summary>
    /// Stops (or, with <paramref name="kill"/>, SIGKILLs) the first cluster node, waits <paramref name="downSeconds"/>,
    /// starts it again on its data and waits until it answers.
    /// </summary>
    public async Task RestartFirstNodeAsync(bool kill, int downSeconds, CancellationToken cancellationToken)
    {
        var (code, output) = await RunAsync(["cluster", kill ? "kill-node" : "stop-node", "1"], new Dictionary<string, string>(), cancellationToken);
        if (code != 0)
            throw new InvalidOperationException($"scripts/infra.sh cluster {(kill ? "kill-node" : "stop-node")} 1 failed (exit {code}): {Last(output)}");
        await Task.Delay(TimeSpan.FromSeconds(downSeconds), cancellationToken);
        (code, output) = await RunAsync(["cluster", "start-node", "1"], new Dictionary<string, string>(), cancellationToken);
        if (code != 0)
            throw new InvalidOperationException($"scripts/infra.sh cluster start-node 1 failed (exit {code}): {Last(output)}");
    }

    /// <summary>
    /// Partitions the first cluster node from the other two (it pauses under pause_minority and closes its AMQP port while
    /// its Erlang VM keeps running), waits until it has paused and then <paramref name="downSeconds"/>, heals the
    /// partition and waits until the node answers AMQP again.
    /// </summary>
    public async Task PartitionFirstNodeAsync(int downSeconds, CancellationToken cancellationToken)
    {
        var (code, output) = await RunAsync(["cluster", "partition-node", "1"], new Dictionary<string, string>(), cancellationToken);
        if (code != 0)
            throw new InvalidOperationException($"scripts/infra.sh cluster partition-node 1 failed (exit {code}): {Last(output)}");
        try
        {
            // The node pauses once it has noticed that it is the minority; the partition lasts downSeconds from then.
            var paused = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (await ListensAsync(RabbitMqPort, cancellationToken))
            {
                if (DateTime.UtcNow > paused)
                    throw new TimeoutException("RabbitMQ cluster node 1 did not pause within 60 s of its partition (is its cluster_partition_handling pause_minority?)");
                await Task.Delay(100, cancellationToken);
            }

            await Task.Delay(TimeSpan.FromSeconds(downSeconds), cancellationToken);
        }
        finally
        {
            // Healed whatever happened: a run must never leave its cluster partitioned.
            (code, output) = await RunAsync(["cluster", "heal-node", "1"], new Dictionary<string, string>(), CancellationToken.None);
        }

        if (code != 0)
            throw new InvalidOperationException($"scripts/infra.sh cluster heal-node 1 failed (exit {code}): {Last(output)}");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (!await ListensAsync(RabbitMqPort, cancellationToken))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("RabbitMQ cluster node 1 did not resume within 120 s after the partition healed");
            await Task.Delay(500, cancellationToken);
        }
    }

    /// <summary>Stops both servers (only those infra.sh started); never throws.</summary>
    public async Task DownAsync()
    {
        try
        {
            if (Cluster)
                await RunAsync(["cluster", "down"], new Dictionary<string, string>(), CancellationToken.None);
            await RunAsync(["down"], new Dictionary<string, string>(), CancellationToken.None);
        }
        catch (Exception error) when (error is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            Console.Error.WriteLine($"rlhf chaos: could not stop the servers on ports {rabbitMqPort}/{redisPort}: {error.Message}");
        }
    }

    /// <summary>Stops a server, waits <paramref name="downSeconds"/>, starts it again on its data and waits until it answers.</summary>
    public async Task RestartAsync(Fault server, int downSeconds, CancellationToken cancellationToken)
    {
        var name = server == Fault.RabbitMq ? "rabbitmq" : "redis";
        var (code, output) = await RunAsync(["restart", name],
            new Dictionary<string, string> { ["INFRA_DOWN_SECONDS"] = downSeconds.ToString(CultureInfo.InvariantCulture) }, cancellationToken);
        if (code != 0)
            throw new InvalidOperationException($"scripts/infra.sh restart {name} failed (exit {code}): {Last(output)}");
    }

    /// <summary>Every queue of the node and its ready messages.</summary>
    public async Task<IReadOnlyDictionary<string, long>> QueuesAsync(CancellationToken cancellationToken)
    {
        var (code, output) = await RunAsync(["queues"], new Dictionary<string, string>(), cancellationToken, log: false);
        if (code != 0)
            throw new InvalidOperationException($"scripts/infra.sh queues failed (exit {code}): {Last(output)}");
        var queues = new Dictionary<string, long>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split('\t');
            if (parts.Length == 2 && long.TryParse(parts[1].Trim(), CultureInfo.InvariantCulture, out var messages))
                queues[parts[0]] = messages;
        }

        return queues;
    }

    /// <summary>True while something accepts TCP connections on the port (the server is up, or at least listening).</summary>
    public static async Task<bool> ListensAsync(int port, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        try
        {
            await client.ConnectAsync("127.0.0.1", port, timeout.Token);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    async Task<(int Code, string Output)> RunAsync(string[] arguments, Dictionary<string, string> environment, CancellationToken cancellationToken,
        bool log = true)
    {
        var start = new ProcessStartInfo("bash", [script, .. arguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["RABBITMQ_PORT"] = rabbitMqPort.ToString(CultureInfo.InvariantCulture);
        start.Environment["REDIS_PORT"] = redisPort.ToString(CultureInfo.InvariantCulture);
        start.Environment["RABBITMQ_CLUSTER_PORTS"] = string.Join(' ', rabbitMqPorts.Select(p => p.ToString(CultureInfo.InvariantCulture)));
        foreach (var (key, value) in environment)
            start.Environment[key] = value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not run {script}");
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Let the script finish what it does to the server (a half-started node is worse than a late stop).
            await process.WaitForExitAsync(CancellationToken.None);
            throw;
        }

        var output = await stdout + await stderr;
        if (log)
        {
            await logLock.WaitAsync(CancellationToken.None);
            try
            {
                await File.AppendAllTextAsync(Path.Combine(runDirectory, "infra.log"),
                    $"[{DateTime.UtcNow:HH:mm:ss.fff}] infra.sh {string.Join(' ', arguments)} -> exit {process.ExitCode}\n{output}", CancellationToken.None);
            }
            finally
            {
                logLock.Release();
            }
        }

        return (process.ExitCode, output);
    }

    static string Last(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "(no output)";
}
