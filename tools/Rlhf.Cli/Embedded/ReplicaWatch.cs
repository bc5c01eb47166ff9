using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Rlhf.ServiceProcesses;

namespace Rlhf.Cli.Embedded;

/// <summary>
/// The scale-out view of a <c>--infra local</c> demo with replicas: once a second, every generation replica's champion
/// version and every scoring process's loaded reward model and scored count, read from their status endpoints. The
/// report then says whether each generation replica served each promoted policy version and how the scorers shared the work.
/// </summary>
public sealed class ReplicaWatch(LocalServices services) : IDisposable
{
    readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(5) };
    readonly ConcurrentDictionary<string, SortedSet<long>> championsSeen = new();
    readonly ConcurrentDictionary<string, (long Scored, long? RewardModel, string Role)> scoring = new();

    IEnumerable<string> Generations => services.Urls.Keys.Where(i => LocalServices.ServiceOf(i) == "Generation").Order(StringComparer.Ordinal);

    IEnumerable<string> Scorers => services.Urls.Keys.Where(i => LocalServices.ProgramOf(i) == "Reward").Order(StringComparer.Ordinal);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await PollAsync(cancellationToken);
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Reads every replica's status once (a replica that does not answer is skipped this time).</summary>
    public async Task PollAsync(CancellationToken cancellationToken)
    {
        foreach (var instance in Generations)
            if (await StatusAsync($"{services.Urls[instance]}/v1/generation/status", cancellationToken) is { } status
                && status.TryGetProperty("policy_version", out var version) && version.ValueKind == JsonValueKind.Number)
                lock (championsSeen.GetOrAdd(instance, _ => []))
                    championsSeen[instance].Add(version.GetInt64());
        foreach (var instance in Scorers)
            if (await StatusAsync($"{services.Urls[instance]}/v1/reward/status", cancellationToken) is { } status)
                scoring[instance] = (status.GetProperty("scored").GetInt64(),
                    status.TryGetProperty("scoring_version", out var rm) && rm.ValueKind == JsonValueKind.Number ? rm.GetInt64() : null,
                    status.TryGetProperty("role", out var role) ? role.GetString() ?? "" : "");
    }

    async Task<JsonElement?> StatusAsync(string url, CancellationToken cancellationToken)
    {
        try
        {
            using var document = JsonDocument.Parse(await http.GetStringAsync(url, cancellationToken));
            return document.RootElement.Clone();
        }
        catch (Exception error) when (error is HttpRequestException or TaskCanceledException or JsonException)
        {
            return null;
        }
    }

    /// <summary>A markdown section: per generation replica, the promoted versions it served (and any it missed); per scoring process, its share.</summary>
    public string Report(IReadOnlyList<long> promoted)
    {
        var inv = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.AppendLine("## Replicas").AppendLine();
        text.AppendLine("| generation replica | champion versions seen | promoted versions missed |").AppendLine("|---|---|---|");
        foreach (var instance in Generations)
        {
            var seen = championsSeen.TryGetValue(instance, out var set) ? [.. set] : new List<long>();
            var missed = promoted.Except(seen).ToList();
            text.AppendLine(inv, $"| {instance.ToLowerInvariant()} | {string.Join(", ", seen)} | {(missed.Count == 0 ? "none" : string.Join(", ", missed))} |");
        }

        var total = Math.Max(1, scoring.Values.Sum(s => s.Scored));
        text.AppendLine().AppendLine("| reward process | role | rollouts scored | share | reward model at the end |").AppendLine("|---|---|---|---|---|");
        foreach (var instance in Scorers)
        {
            var (scored, rm, role) = scoring.GetValueOrDefault(instance);
            text.AppendLine(inv, $"| {instance.ToLowerInvariant()} | {role} | {scored} | {100.0 * scored / total:F0} % | {rm?.ToString(inv) ?? "-"} |");
        }

        return text.ToString();
    }

    public void Dispose() => http.Dispose();
}
