using System.CommandLine;
using System.Diagnostics;
using Rlhf.Generation.Policy;
using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;
using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Cli.Bench;

/// <summary>
/// Weight sync from the learner to every generation replica, by model size, with the services' own code: the learner's
/// export (a safetensors file of the actor, read back as bytes), the blob store's put (Redis in 8 MiB chunks, as
/// deployed, or in memory), then every replica at once runs the generation service's <see cref="PolicyLoader"/>
/// (get, sha256 check, build the model, finite check) and swaps the model into its <see cref="PolicyHolder"/>. The
/// replicas are threads of this process, not separate processes; the PolicyUpdated message itself (a few hundred bytes
/// on the bus) is not timed. End to end = export + put + the slowest replica.
/// </summary>
static class SyncBenchmark
{
    const double GoalSeconds = 1.0;
    const double GoalMegabytes = 100;

    public static Command Create()
    {
        var models = new Option<string[]>("--model") { Description = "Model sizes: tiny, small (~95 MB of float32 weights)", DefaultValueFactory = _ => ["tiny", "small"], AllowMultipleArgumentsPerToken = true };
        var replicas = new Option<int>("--replicas") { Description = "Generation replicas that load each version", DefaultValueFactory = _ => 2 };
        var runs = new Option<int>("--runs") { Description = "Timed publishes per size after one warm-up (the fastest counts)", DefaultValueFactory = _ => 3 };
        var store = new Option<string>("--blob-store") { Description = "redis (as deployed), file (a shared folder, e.g. a volume every replica mounts) or memory", DefaultValueFactory = _ => "redis" };
        var blobDirectory = new Option<string?>("--blob-dir") { Description = "Folder for --blob-store file (default: a new temporary folder, deleted afterwards)" };
        var redis = new Option<string>("--redis") { Description = "Redis configuration for --blob-store redis", DefaultValueFactory = _ => "localhost:6379" };
        var threads = new Option<int>("--threads") { Description = "LibTorch threads (0 = default)", DefaultValueFactory = _ => 0 };
        var command = new Command("sync", "Learner publish to every generation replica serving: export, blob put, replica load + swap, by model size.")
            { models, replicas, runs, store, blobDirectory, redis, threads };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var names = parse.GetValue(models)!;
            var storeName = parse.GetValue(store)!;
            if (parse.GetValue(replicas) <= 0 || parse.GetValue(runs) <= 0 || names.Any(n => !BenchModels.ByName.ContainsKey(n)) || storeName is not ("redis" or "file" or "memory"))
            {
                Console.Error.WriteLine("error: --replicas and --runs must be > 0, --model tiny or small, --blob-store redis, file or memory");
                return 1;
            }

            TorchRuntime.SetThreads(parse.GetValue(threads));
            ConnectionMultiplexer? connection = null;
            var prefix = $"rlhf-bench-sync-{Guid.NewGuid():N}:";
            var ownFolder = storeName == "file" && parse.GetValue(blobDirectory) is null;
            var folder = storeName != "file" ? null : parse.GetValue(blobDirectory) ?? Directory.CreateTempSubdirectory("rlhf-bench-blobs-").FullName;
            try
            {
                if (storeName == "redis")
                {
                    try
                    {
                        connection = await ConnectionMultiplexer.ConnectAsync(parse.GetValue(redis)!);
                    }
                    catch (RedisConnectionException error)
                    {
                        Console.Error.WriteLine($"error: cannot reach Redis at {parse.GetValue(redis)} ({error.Message}); use --redis or --blob-store memory");
                        return 1;
                    }
                }

                IBlobStore blobs = connection is not null ? new RedisBlobStore(connection, prefix, 8 * 1024 * 1024)
                    : folder is not null ? new FileSystemBlobStore(folder) : new InMemoryBlobStore();
                Console.WriteLine($"sync benchmark: {parse.GetValue(replicas)} generation replicas, blob store {storeName}, " +
                    $"best of {parse.GetValue(runs)} after a warm-up, {TorchRuntime.Describe()}{(folder is null ? "" : $"; blobs in {folder}")}");
                Console.WriteLine($"{"model",-6} {"params",8} {"MB",7} {"export s",9} {"put s",7} {"replicas load+swap s",21} {"end to end s",13} {"MB/s",7}");
                var summary = new BenchSummary("sync");
                foreach (var name in names)
                    await RunAsync(name, blobs, parse.GetValue(replicas), parse.GetValue(runs), summary, cancellationToken);
                summary.Print();
                return 0;
            }
            finally
            {
                if (ownFolder)
                    Directory.Delete(folder!, recursive: true);
                if (connection is not null)
                {
                    var server = connection.GetServer(connection.GetEndPoints()[0]);
                    foreach (var key in server.Keys(pattern: prefix + "*"))
                        await connection.GetDatabase().KeyDeleteAsync(key);
                    await connection.DisposeAsync();
                }
            }
        });
        return command;
    }

    sealed record Timing(double Export, double Put, double Replicas, long Bytes)
    {
        public double Total => Export + Put + Replicas;
    }

    static async Task RunAsync(string name, IBlobStore blobs, int replicaCount, int runs, BenchSummary summary, CancellationToken cancellationToken)
    {
        var config = BenchModels.Named(name);
        var directory = Directory.CreateTempSubdirectory("rlhf-bench-sync-");
        try
        {
            using var actor = BenchModels.Policy(config, seed: 1);
            var basePath = Path.Combine(directory.FullName, "base");
            ModelCheckpoint.SavePolicy(basePath, actor, new ByteTokenizer(), new CheckpointInfo(0));
            var policyBase = PolicyBase.Load(basePath);
            var loader = new PolicyLoader(blobs, Microsoft.Extensions.Options.Options.Create(new Rlhf.Generation.GenerationOptions { ModelPath = basePath, Device = "cpu" }));
            var replicas = Enumerable.Range(0, replicaCount).Select(_ =>
            {
                var holder = new PolicyHolder();
                holder.SetBase(policyBase);
                holder.Serve(loader.LoadBase(basePath).Policy, canary: null);
                return holder;
            }).ToList();
            try
            {
                Timing? best = null;
                for (var run = 0; run <= runs; run++)
                {
                    var timing = await PublishAsync(actor, run + 1, directory.FullName, blobs, loader, policyBase, replicas, cancellationToken);
                    if (run > 0 && (best is null || timing.Total < best.Total))
                        best = timing;
                }

                var megabytes = best!.Bytes / 1e6;
                Console.WriteLine($"{name,-6} {BenchModels.Parameters(actor) / 1e6,7:F1}M {megabytes,7:F1} {best.Export,9:F3} {best.Put,7:F3} {best.Replicas,21:F3} " +
                    $"{best.Total,13:F3} {megabytes / best.Total,7:F0}");
                if (megabytes >= GoalMegabytes * 0.9)
                    Console.WriteLine($"goal: {GoalMegabytes:F0} MB in <= {GoalSeconds:F0} s end to end: {megabytes / best.Total * GoalSeconds / GoalMegabytes:P0} of the way " +
                        $"({(best.Total * GoalMegabytes / megabytes <= GoalSeconds ? "met" : "NOT met")}, scaled to 100 MB: {best.Total * GoalMegabytes / megabytes:F2} s)");
                summary.Add($"{name}_mb", megabytes).Add($"{name}_export_s", best.Export).Add($"{name}_put_s", best.Put)
                    .Add($"{name}_replicas_s", best.Replicas).Add($"{name}_total_s", best.Total);
            }
            finally
            {
                foreach (var replica in replicas)
                    replica.Dispose();
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    static async Task<Timing> PublishAsync(CausalLM actor, long version, string directory, IBlobStore blobs, PolicyLoader loader, PolicyBase policyBase,
        List<PolicyHolder> replicas, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var scratch = Path.Combine(directory, $"export-{version}");
        ModelCheckpoint.SavePolicy(scratch, actor, tokenizer: null, new CheckpointInfo(version));
        var weights = await File.ReadAllBytesAsync(Path.Combine(scratch, ModelCheckpoint.WeightsFile), cancellationToken);
        Directory.Delete(scratch, recursive: true);
        var export = watch.Elapsed.TotalSeconds;

        watch.Restart();
        var blob = await blobs.PutAsync($"policy/{version}", weights, PolicyLoader.WeightsFormat, cancellationToken);
        var put = watch.Elapsed.TotalSeconds;

        watch.Restart();
        var record = new ModelVersionRecord(ModelKind.Policy, version, version - 1, blob, new Dictionary<string, double>(), DateTimeOffset.UtcNow);
        await Task.WhenAll(replicas.Select(replica => Task.Run(async () =>
        {
            var loaded = await loader.LoadAsync(policyBase, record, cancellationToken);
            replica.Serve(loaded.Policy ?? throw new InvalidOperationException($"a replica refused version {version}: {loaded.Refusal}"), canary: null);
        }, cancellationToken)));
        var load = watch.Elapsed.TotalSeconds;
        await blobs.DeleteAsync(blob, cancellationToken);
        return new Timing(export, put, load, weights.LongLength);
    }
}
