using System.Collections.Concurrent;
using System.Diagnostics;
using Rlhf.ServiceProcesses;

namespace Rlhf.Chaos;

/// <summary>
/// One injected fault and its recovery, in seconds into the run: <see cref="StartedAt"/> the fault began;
/// <see cref="DownAt"/> the server stopped answering on its port or the killed process was gone; <see cref="BackAt"/>
/// the server answered again or the new process was started; <see cref="ReadyAt"/> every affected service answered
/// <c>/health/ready</c> 200 again.
/// </summary>
public sealed class FaultRecord(Fault fault)
{
    public Fault Fault { get; } = fault;

    public double StartedAt { get; set; }

    public double? DownAt { get; set; }

    public double? BackAt { get; set; }

    public double? ReadyAt { get; set; }

    /// <summary>
    /// Every affected service reported every readiness check <c>Healthy</c> again (a <c>Degraded</c> check, such as a
    /// receive endpoint not yet reconnected to the broker, still answers 200 and counts as ready, not as healthy).
    /// </summary>
    public double? HealthyAt { get; set; }

    /// <summary>Submissions started when the fault began.</summary>
    public int AtSubmission { get; set; }

    public bool Injected { get; set; }

    public string? Error { get; set; }

    /// <summary>The first 202 to an attempt sent after the outage began (<see cref="DownAt"/>), if any.</summary>
    public double? FirstAcceptAt { get; set; }

    /// <summary>The journal first grew after the affected services were ready again.</summary>
    public double? JournalResumedAt { get; set; }
}

/// <summary>
/// Injects each requested fault once, in order, spread over the submissions: fault i (of K) starts once
/// <see cref="Threshold"/>(i) = N * (i + 1) / (K + 2) submissions have started and the previous fault has recovered.
/// Until a fault has recovered the clients run ahead only to the next threshold (plus one submission per second, see
/// <see cref="TrickleAsync"/>), so every fault has traffic before, during and after it, and the submissions past
/// N * (K + 1) / (K + 2) all come after the last fault. RabbitMQ and Redis restart through <c>scripts/infra.sh restart</c>; the reward
/// and learner processes are killed with SIGKILL and started again after a short delay, as a supervisor would.
/// </summary>
public sealed class FaultInjector(ChaosSettings settings, ChaosInfrastructure infrastructure, LocalServices services, FeedbackClients clients,
    Stopwatch clock, TextWriter output)
{
    static readonly TimeSpan ReadyLimit = TimeSpan.FromMinutes(2);

    /// <summary>Submissions started before fault <paramref name="i"/> begins (i = K: the last submission gated by the schedule).</summary>
    public static int Threshold(ChaosSettings settings, int i) =>
        i > settings.Faults.Count ? settings.Feedback : (int)Math.Ceiling(settings.Feedback * (i + 1.0) / (settings.Faults.Count + 2));

    readonly List<FaultRecord> records = [];

    /// <summary>The faults begun so far (also after the run was interrupted).</summary>
    public IReadOnlyList<FaultRecord> Records => records;

    public async Task<IReadOnlyList<FaultRecord>> RunAsync(Task clientsDone, CancellationToken cancellationToken)
    {
        try
        {
            for (var i = 0; i < settings.Faults.Count; i++)
            {
                while (clients.Started < Threshold(settings, i) && !clientsDone.IsCompleted)
                    await Task.Delay(100, cancellationToken);
                var record = new FaultRecord(settings.Faults[i]) { AtSubmission = clients.Started };
                records.Add(record);
                using (var recovered = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    var trickle = TrickleAsync(i, recovered.Token);
                    await InjectAsync(record, cancellationToken);
                    await recovered.CancelAsync();
                    await trickle;
                }

                clients.Allow(Threshold(settings, i + 2));
            }
        }
        finally
        {
            clients.Allow(settings.Feedback);
        }

        return records;
    }

    /// <summary>
    /// While fault <paramref name="i"/> lasts, lets one more submission start per second (up to half of the next window),
    /// so there is traffic during the fault as well as after it.
    /// </summary>
    async Task TrickleAsync(int i, CancellationToken cancellationToken)
    {
        var next = Threshold(settings, i + 1);
        var cap = next + (Threshold(settings, i + 2) - next) / 2;
        try
        {
            for (var allowance = next + 1; allowance <= cap; allowance++)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                clients.Allow(allowance);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    async Task InjectAsync(FaultRecord record, CancellationToken cancellationToken)
    {
        var name = Faults.Name(record.Fault);
        record.StartedAt = Now;
        output.WriteLine($"[{Clock}] fault: {Describe(record.Fault)} (submission {record.AtSubmission}/{settings.Feedback})");
        try
        {
            switch (record.Fault)
            {
                case Fault.RabbitMq:
                case Fault.Redis:
                case Fault.RabbitMqNodeStop:
                case Fault.RabbitMqNodeKill:
                case Fault.RabbitMqNodePartition:
                    await RestartServerAsync(record, cancellationToken);
                    break;
                default:
                    await RestartProcessAsync(record, cancellationToken);
                    break;
            }

            record.Injected = true;
            await WaitReadyAsync(record, cancellationToken);
            output.WriteLine($"[{Clock}] {name}: services ready {record.ReadyAt - record.StartedAt:F1} s after the fault began");
            await WaitHealthyAsync(record, cancellationToken);
            output.WriteLine(record.HealthyAt is { } healthy
                ? $"[{Clock}] {name}: every readiness check healthy {healthy - record.StartedAt:F1} s after the fault began"
                : $"[{Clock}] {name}: some readiness check still not healthy after {ReadyLimit.TotalSeconds:0} s");
        }
        catch (Exception error) when (error is InvalidOperationException or TimeoutException)
        {
            record.Error = error.Message;
            output.WriteLine($"[{Clock}] {name}: {error.Message}");
        }
    }

    async Task RestartServerAsync(FaultRecord record, CancellationToken cancellationToken)
    {
        var port = record.Fault == Fault.Redis ? infrastructure.RedisPort : infrastructure.RabbitMqPort;
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watcher = WatchPortClosedAsync(record, port, watching.Token);
        var downSeconds = record.Fault == Fault.Redis ? settings.RedisDownSeconds : settings.RabbitMqDownSeconds;
        if (record.Fault == Fault.RabbitMqNodePartition)
            await infrastructure.PartitionFirstNodeAsync(downSeconds, cancellationToken);
        else if (Faults.IsNodeFault(record.Fault))
            await infrastructure.RestartFirstNodeAsync(kill: record.Fault == Fault.RabbitMqNodeKill, downSeconds, cancellationToken);
        else
            await infrastructure.RestartAsync(record.Fault, downSeconds, cancellationToken);
        record.BackAt = Now;
        await watching.CancelAsync();
        await watcher;
    }

    async Task WatchPortClosedAsync(FaultRecord record, int port, CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (!await ChaosInfrastructure.ListensAsync(port, cancellationToken))
                {
                    record.DownAt = Now;
                    return;
                }

                await Task.Delay(50, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    async Task RestartProcessAsync(FaultRecord record, CancellationToken cancellationToken)
    {
        var name = Faults.ProcessName(record.Fault);
        var pid = services.ProcessId(name);
        await services.KillAsync(name, cancellationToken);
        record.DownAt = Now;
        output.WriteLine($"[{Clock}] killed Rlhf.{name} (pid {pid}, SIGKILL)");
        await Task.Delay(TimeSpan.FromSeconds(settings.ProcessRestartDelay), cancellationToken);
        services.Start(name);
        record.BackAt = Now;
    }

    async Task WaitReadyAsync(FaultRecord record, CancellationToken cancellationToken)
    {
        var affected = Faults.Affected(record.Fault);
        var failures = new ConcurrentBag<string>();
        await Task.WhenAll(affected.Select(async name =>
        {
            try
            {
                await services.WaitReadyAsync(name, ReadyLimit, cancellationToken);
            }
            catch (Exception error) when (error is InvalidOperationException or TimeoutException)
            {
                failures.Add(error.Message);
            }
        }));
        if (!failures.IsEmpty)
            throw new TimeoutException($"not recovered: {string.Join("; ", failures)}");
        record.ReadyAt = Now;
    }

    async Task WaitHealthyAsync(FaultRecord record, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = clock.Elapsed + ReadyLimit;
        var waiting = Faults.Affected(record.Fault).ToHashSet();
        while (clock.Elapsed < deadline)
        {
            foreach (var name in waiting.ToList())
            {
                if (await IsHealthyAsync(http, services.Urls[name], cancellationToken))
                    waiting.Remove(name);
            }

            if (waiting.Count == 0)
            {
                record.HealthyAt = Now;
                return;
            }

            await Task.Delay(250, cancellationToken);
        }
    }

    static async Task<bool> IsHealthyAsync(HttpClient http, string url, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.GetAsync($"{url}/health/ready", cancellationToken);
            return response.IsSuccessStatusCode &&
                   System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))?["status"]?.GetValue<string>() == "Healthy";
        }
        catch (Exception error) when (error is HttpRequestException or System.Text.Json.JsonException or InvalidOperationException ||
                                      error is TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    static string Describe(Fault fault) => fault switch
    {
        Fault.RabbitMq => "restart RabbitMQ (rabbitmqctl stop, wait, start)",
        Fault.Redis => "restart Redis (SHUTDOWN, start on its AOF)",
        Fault.RabbitMqNodeStop => "stop RabbitMQ cluster node 1 (rabbitmqctl stop; the other two keep the queues), start it again",
        Fault.RabbitMqNodeKill => "kill -9 RabbitMQ cluster node 1's Erlang VM (the other two keep the queues), start it again",
        Fault.RabbitMqNodePartition => "partition RabbitMQ cluster node 1 from the other two (its VM runs on and pauses as the minority), heal it",
        _ => $"kill -9 the {Faults.Name(fault)} service, start it again",
    };

    double Now => clock.Elapsed.TotalSeconds;

    string Clock => clock.Elapsed.ToString(@"mm\:ss", System.Globalization.CultureInfo.InvariantCulture);
}
