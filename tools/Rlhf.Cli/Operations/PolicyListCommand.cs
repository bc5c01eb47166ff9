using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Rlhf.Learner.Training;
using Rlhf.Storage;
using Spectre.Console;
using StackExchange.Redis;

using Rlhf.Learner.Admin;

namespace Rlhf.Cli.Operations;

/// <summary><c>rlhf policy list [--json]</c>: the registered policy versions, oldest first, the promoted one marked.</summary>
public static class PolicyListCommand
{
    public static Command Create(Func<ParseResult, PolicyEndpoints> endpoints)
    {
        var json = new Option<bool>("--json") { Description = "Write one JSON document (promoted version, every version with its blob and metrics) instead of the table" };
        var list = new Command("list", "List the registered policy versions (oldest first); * marks the promoted (served) one.") { json };
        list.SetAction((parse, cancel) => RunAsync(endpoints(parse), parse.GetValue(json), parse.InvocationConfiguration.Output,
            parse.InvocationConfiguration.Error, cancel));
        return list;
    }

    /// <summary>Writes the table of policy versions, or with <paramref name="json"/> one JSON document; 1 when Redis cannot be read.</summary>
    public static async Task<int> RunAsync(PolicyEndpoints endpoints, bool json, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var redis = await PolicyOperation.ConnectAsync(endpoints, changes: false, error);
        if (redis is null)
            return 1;

        await using (redis)
        {
            IReadOnlyList<ModelVersionRecord> versions;
            ModelVersionRecord? promoted;
            try
            {
                var registry = new RedisModelRegistry(redis, endpoints.KeyPrefix);
                versions = await registry.ListAsync(ModelKind.Policy, cancellationToken);
                promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken);
            }
            catch (RedisException e)
            {
                error.WriteLine(PolicyOperation.UnreadableRegistry(endpoints, e, changes: false));
                return 1;
            }

            if (json)
            {
                WriteJson(versions, promoted?.Version, output);
                return 0;
            }

            if (versions.Count == 0)
            {
                output.WriteLine($"No policy versions registered under key prefix '{endpoints.KeyPrefix}' in Redis {endpoints.Redis}.");
                return 0;
            }

            WriteTable(versions, promoted?.Version, output);
            output.WriteLine(promoted is null
                ? "No version is promoted: generation serves its base checkpoint."
                : $"* promoted (served): version {promoted.Version}.");
            return 0;
        }
    }

    static void WriteTable(IReadOnlyList<ModelVersionRecord> versions, long? promoted, TextWriter output)
    {
        var table = ConsoleTables.Create(("", Justify.Left), ("VERSION", Justify.Left), ("PARENT", Justify.Left), ("CREATED (UTC)", Justify.Left),
            ("BLOB SHA256", Justify.Left), ("SIZE", Justify.Right), ("FORMAT", Justify.Left), ("MEAN REWARD", Justify.Right), ("KL", Justify.Right),
            ("EVAL KL", Justify.Right), ("ROLLOUTS", Justify.Right));
        foreach (var r in versions)
        {
            table.AddTextRow([
                r.Version == promoted ? "*" : "",
                r.Version.ToString(CultureInfo.InvariantCulture),
                PolicyFormat.Version(r.ParentVersion),
                PolicyFormat.Time(r.CreatedAt),
                PolicyFormat.ShortSha(r.Blob.Sha256),
                PolicyFormat.Size(r.Blob.Bytes),
                r.Blob.Format,
                PolicyFormat.Metric(r.Metrics, PolicyRegistryMetrics.MeanReward, "F3"),
                PolicyFormat.Metric(r.Metrics, PolicyRegistryMetrics.KlToReference, "F4"),
                PolicyFormat.Metric(r.Metrics, PolicyRegistryMetrics.EvalKl, "F4"),
                PolicyFormat.Metric(r.Metrics, PolicyRegistryMetrics.RolloutsUsed, "F0"),
            ]);
        }

        ConsoleTables.Write(table, output);
    }

    /// <summary><c>{"promoted": 2, "versions": [{"version", "parentVersion", "createdAt", "promoted", "blob", "metrics"}]}</c>, full sha256 and metric keys as stored.</summary>
    static void WriteJson(IReadOnlyList<ModelVersionRecord> versions, long? promoted, TextWriter output)
    {
        var document = new
        {
            Promoted = promoted,
            Versions = versions.Select(r => new { r.Version, r.ParentVersion, r.CreatedAt, Promoted = r.Version == promoted, r.Blob, r.Metrics }),
        };
        output.WriteLine(JsonSerializer.Serialize(document, JsonOutput.Options));
    }
}
