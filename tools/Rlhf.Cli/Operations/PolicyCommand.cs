using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Rlhf.Contracts;
using Rlhf.Learner.Training;
using Rlhf.Storage;
using Spectre.Console;
using StackExchange.Redis;

namespace Rlhf.Cli.Operations;

/// <summary>
/// <c>rlhf policy list</c> and <c>rlhf policy rollback &lt;version&gt;</c>: the policy versions in a deployment's model
/// registry, and an operator's rollback (promote an earlier version, then publish <see cref="PolicyUpdated"/> with
/// <see cref="PolicyUpdated.IsRollback"/> so generation swaps to it and the learner continues from it).
/// </summary>
public static class PolicyCommand
{
    public static Command Create()
    {
        var redis = new Option<string>("--redis")
        {
            Description = "Redis configuration string of the deployment (the services' Redis:Configuration)",
            DefaultValueFactory = _ => PolicyEndpoints.DefaultRedis,
            Recursive = true,
        };
        var keyPrefix = new Option<string>("--key-prefix")
        {
            Description = "Prefix of the deployment's Redis keys (the services' Redis:KeyPrefix)",
            DefaultValueFactory = _ => PolicyEndpoints.DefaultKeyPrefix,
            Recursive = true,
        };
        var rabbit = new Option<Uri>("--rabbitmq")
        {
            Description = "RabbitMQ address the services use (amqp://user:password@host:port/vhost)",
            DefaultValueFactory = _ => PolicyEndpoints.DefaultRabbitMq,
            CustomParser = RabbitMqAddress.Parse,
            Recursive = true,
        };
        var blobDirectory = new Option<string?>("--blob-directory")
        {
            Description = "The services' Storage:BlobDirectory when weights live on a shared volume (default: blobs in Redis)",
            Recursive = true,
        };
        var timeout = new Option<double>("--timeout")
        {
            Description = "Seconds to wait for Redis to connect and for RabbitMQ to confirm the publish",
            DefaultValueFactory = _ => 15,
            Recursive = true,
        };
        timeout.Validators.Add(result => { if (result.GetValueOrDefault<double>() is not (> 0 and <= 600)) result.AddError("--timeout must be in (0, 600]"); });

        PolicyEndpoints Endpoints(ParseResult parse) => new(parse.GetValue(redis)!, parse.GetValue(keyPrefix) ?? "", parse.GetValue(rabbit)!,
            parse.GetValue(blobDirectory), TimeSpan.FromSeconds(parse.GetValue(timeout)));

        var json = new Option<bool>("--json") { Description = "Write one JSON document (promoted version, every version with its blob and metrics) instead of the table" };
        var list = new Command("list", "List the registered policy versions (oldest first); * marks the promoted (served) one.") { json };
        list.SetAction((parse, cancel) => ListAsync(Endpoints(parse), parse.GetValue(json), parse.InvocationConfiguration.Output,
            parse.InvocationConfiguration.Error, cancel));

        var version = new Argument<long>("version") { Description = "Registered policy version to serve again" };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation" };
        var rollback = new Command("rollback",
            "Promote an earlier policy version again and publish PolicyUpdated (IsRollback) so generation swaps to it and the learner follows. " +
            "Refuses unknown versions, the promoted version, and versions whose weights are missing or fail their sha256 check.")
        {
            version, yes,
        };
        rollback.SetAction((parse, cancel) => RollbackAsync(Endpoints(parse), parse.GetValue(version), parse.GetValue(yes),
            Console.IsInputRedirected ? null : Console.In, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel));

        return new Command("policy", "Inspect the deployment's policy versions and roll back to an earlier one.")
        {
            redis, keyPrefix, rabbit, blobDirectory, timeout, list, rollback,
        };
    }

    /// <summary>Writes the table of policy versions, or with <paramref name="json"/> one JSON document; 1 when Redis cannot be read.</summary>
    public static async Task<int> ListAsync(PolicyEndpoints endpoints, bool json, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        ConnectionMultiplexer redis;
        try
        {
            redis = await endpoints.ConnectRedisAsync();
        }
        catch (RedisException e)
        {
            error.WriteLine($"error: cannot connect to Redis at {endpoints.Redis}: {e.Message}");
            return 1;
        }

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
                error.WriteLine($"error: cannot read the model registry under prefix '{endpoints.KeyPrefix}': {e.Message}");
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
                r.ParentVersion?.ToString(CultureInfo.InvariantCulture) ?? "-",
                r.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                r.Blob.Sha256.Length > 12 ? r.Blob.Sha256[..12] : r.Blob.Sha256,
                Size(r.Blob.Bytes),
                r.Blob.Format,
                Metric(r.Metrics, PolicyRegistryMetrics.MeanReward, "F3"),
                Metric(r.Metrics, PolicyRegistryMetrics.KlToReference, "F4"),
                Metric(r.Metrics, PolicyRegistryMetrics.EvalKl, "F4"),
                Metric(r.Metrics, PolicyRegistryMetrics.RolloutsUsed, "F0"),
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

    static string Metric(IReadOnlyDictionary<string, double> metrics, string name, string format) =>
        metrics.TryGetValue(name, out var value) ? value.ToString(format, CultureInfo.InvariantCulture) : "-";

    static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F1} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F1} MiB",
        >= 1L << 10 => $"{bytes / (double)(1L << 10):F1} KiB",
        _ => $"{bytes} B",
    };

    /// <summary>
    /// Rolls the deployment back to <paramref name="version"/>: checks it is registered, not already promoted, and that
    /// its weights read back and pass their sha256 check; asks for confirmation unless <paramref name="yes"/> (without a
    /// terminal, <paramref name="confirm"/> is null and only <paramref name="yes"/> proceeds); promotes it in the
    /// registry; publishes <see cref="PolicyUpdated"/> with IsRollback on RabbitMQ with publisher confirms.
    /// 0 when both steps succeeded; 1 when refused before any change; 2 when the promotion or the publish failed
    /// (the message names the step and what state it left).
    /// </summary>
    public static async Task<int> RollbackAsync(PolicyEndpoints endpoints, long version, bool yes, TextReader? confirm, TextWriter output,
        TextWriter error, CancellationToken cancellationToken)
    {
        ConnectionMultiplexer redis;
        try
        {
            redis = await endpoints.ConnectRedisAsync();
        }
        catch (RedisException e)
        {
            error.WriteLine($"error: cannot connect to Redis at {endpoints.Redis}: {e.Message}. Nothing was changed.");
            return 1;
        }

        await using (redis)
        {
            var registry = new RedisModelRegistry(redis, endpoints.KeyPrefix);
            var blobs = endpoints.BlobStore(redis);

            ModelVersionRecord? record;
            ModelVersionRecord? promoted;
            try
            {
                record = await registry.GetAsync(ModelKind.Policy, version, cancellationToken);
                promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken);
            }
            catch (RedisException e)
            {
                error.WriteLine($"error: cannot read the model registry under prefix '{endpoints.KeyPrefix}': {e.Message}. Nothing was changed.");
                return 1;
            }

            if (record is null)
            {
                var known = (await registry.ListAsync(ModelKind.Policy, cancellationToken)).Select(r => r.Version).ToList();
                error.WriteLine($"error: policy version {version} is not registered under key prefix '{endpoints.KeyPrefix}' " +
                    $"(registered: {(known.Count == 0 ? "none" : string.Join(", ", known))}). Nothing was changed.");
                return 1;
            }

            if (promoted?.Version == version)
            {
                error.WriteLine($"error: policy version {version} is already the promoted version. Nothing was changed.");
                return 1;
            }

            if (!await VerifyBlobAsync(blobs, record, error, cancellationToken))
                return 1;

            var from = promoted is null ? "the base checkpoint (nothing promoted)" : $"version {promoted.Version}";
            if (!yes)
            {
                if (confirm is null)
                {
                    error.WriteLine($"error: rolling back from {from} to version {version} needs confirmation: pass --yes. Nothing was changed.");
                    return 1;
                }

                output.Write($"Roll back policy from {from} to version {version} (prefix '{endpoints.KeyPrefix}', RabbitMQ {endpoints.RabbitMqDisplay})? [y/N] ");
                var answer = (await confirm.ReadLineAsync(cancellationToken))?.Trim();
                if (answer is not ("y" or "Y" or "yes" or "Yes" or "YES"))
                {
                    output.WriteLine("Cancelled. Nothing was changed.");
                    return 1;
                }
            }

            try
            {
                await registry.PromoteAsync(ModelKind.Policy, version, cancellationToken);
            }
            catch (Exception e) when (e is RedisException or KeyNotFoundException or InvalidOperationException)
            {
                error.WriteLine($"error: step 1/2 (promote in the registry) failed: {e.Message}. Nothing was published; " +
                    $"the promoted version is unchanged unless Redis applied the write before failing (check `rlhf policy list`).");
                return 2;
            }

            output.WriteLine($"Promoted policy version {version} in the registry (was {from}).");

            var update = PolicyEndpoints.RollbackEvent(record, DateTimeOffset.UtcNow);
            try
            {
                await endpoints.PublishAsync(update, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                error.WriteLine($"error: step 2/2 (publish PolicyUpdated to RabbitMQ {endpoints.RabbitMqDisplay}) failed: {e.GetBaseException().Message}");
                error.WriteLine($"error: the registry now promotes version {version}, but running services were not told: generation keeps " +
                    "serving its current version until it restarts (it loads the promoted version at start), and the learner keeps training " +
                    "from its own weights. Restart generation and the learner, or fix RabbitMQ and roll back again.");
                return 2;
            }

            output.WriteLine($"Published PolicyUpdated (version {update.PolicyVersion}, parent {update.ParentVersion}, rollback, blob sha256 " +
                $"{record.Blob.Sha256[..Math.Min(12, record.Blob.Sha256.Length)]}, {Size(record.Blob.Bytes)}) to RabbitMQ {endpoints.RabbitMqDisplay}; " +
                "the broker confirmed it. Generation swaps to it between batches; the learner continues from it.");
            return 0;
        }
    }

    static async Task<bool> VerifyBlobAsync(IBlobStore blobs, ModelVersionRecord record, TextWriter error, CancellationToken cancellationToken)
    {
        string? problem;
        try
        {
            await blobs.GetAsync(record.Blob, cancellationToken);
            problem = null;
        }
        catch (KeyNotFoundException)
        {
            problem = "is missing (deleted or expired)";
        }
        catch (BlobIntegrityException e)
        {
            problem = $"failed its sha256 check ({e.Message})";
        }
        catch (ArgumentException e)
        {
            problem = $"cannot be read from this blob store ({e.Message}; pass --blob-directory if the services keep weights on a volume)";
        }
        catch (Exception e) when (e is RedisException or IOException or UnauthorizedAccessException)
        {
            problem = $"could not be read ({e.Message})";
        }

        if (problem is null)
            return true;
        error.WriteLine($"error: the weights of policy version {record.Version} ({record.Blob.Uri}) {problem}. Nothing was changed.");
        return false;
    }
}
