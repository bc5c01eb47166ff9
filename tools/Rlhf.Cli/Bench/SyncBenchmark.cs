using System.CommandLine;
using System.Diagnostics;
using Rlhf.Generation.Policy;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;
using Rlhf.Storage;
using StackExchange.Redis;

namespace Rlhf.Cli.Bench;

/// <summary>
/// Weight sync from the learner to every generation replica, by model size, with the services' own code: the learner's
/// export (the actor serialized as safetensors bytes in memory), the blob store's put (Redis in chunks of Storage:BlobChunkBytes,
/// 1 MiB as deployed, or in memory), then every replica at once runs the generation service's <see cref="PolicyLoader"/>
/// (get, sha256 check, build the model, finite check) and swaps the model into its <see cref="PolicyHolder"/>. The
/// replicas are threads of this process, not separate processes; the PolicyUpdated message itself (a few hundred bytes
/// on the bus) is not timed. End to end = export + put + the slowest replica. With <c>--lora-rank N</c> each size is also
/// measured as the LoRA learner publishes it: the adapter blob (rank N on every projection, the learner's
/// <see cref="LoraAdapterBlob"/> export) with the base weights' sha256, which each replica checks against its base,
/// serves on its base weights (shared with the base loaded at start, adapters applied per forward: <see cref="AdapterBase"/>)
/// and swaps in; the warm-up publish's time is printed apart, and the decode speed of the served adapter version is
/// compared with the same weights merged.
/// </summary>
static class SyncBenchmark
{
    const double GoalSeconds = 1.0;
    const double GoalMegabytes = 100;
    const double AdapterGoalSeconds = 0.5;

    public static Command Create()
    {
        var models = new Option<string[]>("--model") { Description = "Model sizes: tiny, small (~95 MB of float32 weights), smollm2-135m (~540 MB)", DefaultValueFactory = _ => ["tiny", "small"], AllowMultipleArgumentsPerToken = true };
        var loraRank = new Option<int>("--lora-rank") { Description = "Also publish LoRA adapters of this rank (every projection) per size; 0 = full weights only", DefaultValueFactory = _ => 0 };
        var replicas = new Option<int>("--replicas") { Description = "Generation replicas that load each version", DefaultValueFactory = _ => 2 };
        var runs = new Option<int>("--runs") { Description = "Timed publishes per size after one warm-up (the fastest counts)", DefaultValueFactory = _ => 3 };
        var store = new Option<string>("--blob-store") { Description = "redis (as deployed), file (a shared folder, e.g. a volume every replica mounts) or memory", DefaultValueFactory = _ => "redis" };
        var blobDirectory = new Option<string?>("--blob-dir") { Description = "Folder for --blob-store file (default: a new temporary folder, deleted afterwards)" };
        var redis = new Option<string>("--redis") { Description = "Redis configuration for --blob-store redis", DefaultValueFactory = _ => "localhost:6379" };
        var chunk = new Option<int>("--chunk-bytes") { Description = "Redis chunk size (Storage:BlobChunkBytes)", DefaultValueFactory = _ => new StorageOptions().BlobChunkBytes };
        var threads = new Option<int>("--threads") { Description = "LibTorch threads (0 = default)", DefaultValueFactory = _ => 0 };
        var command = new Command("sync", "Learner publish to every generation replica serving: export, blob put, replica load + swap, by model size.")
            { models, replicas, runs, store, blobDirectory, redis, chunk, threads, loraRank };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var names = parse.GetValue(models)!;
            var storeName = parse.GetValue(store)!;
            var rank = parse.GetValue(loraRank);
            if (parse.GetValue(replicas) <= 0 || parse.GetValue(runs) <= 0 || names.Any(n => !BenchModels.ByName.ContainsKey(n)) || storeName is not ("redis" or "file" or "memory")
                || rank is < 0 or > 1024 || parse.GetValue(chunk) is < 1024 or > 512 * 1024 * 1024)
            {
                Console.Error.WriteLine($"error: --replicas and --runs must be > 0, --model {BenchModels.Names}, --blob-store redis, file or memory, --lora-rank 0 to 1024, " +
                    "--chunk-bytes 1024 to 536870912");
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

                IBlobStore blobs = connection is not null ? new RedisBlobStore(connection, prefix, parse.GetValue(chunk))
                    : folder is not null ? new FileSystemBlobStore(folder) : new InMemoryBlobStore();
                Console.WriteLine($"sync benchmark: {parse.GetValue(replicas)} generation replicas, blob store {storeName}, " +
                    $"{(connection is null ? "" : $"chunks of {parse.GetValue(chunk) / 1024} KiB, ")}best of {parse.GetValue(runs)} after a warm-up (and the median), {TorchRuntime.Describe()}{(folder is null ? "" : $"; blobs in {folder}")}");
                Console.WriteLine($"{"model",-13} {"update",-10} {"params",8} {"MB",8} {"export s",9} {"put s",7} {"replicas load+swap s",21} {"end to end s",13} {"MB/s",7}");
                var summary = new BenchSummary("sync");
                foreach (var name in names)
                {
                    await RunAsync(name, blobs, parse.GetValue(replicas), parse.GetValue(runs), summary, loraRank: 0, cancellationToken);
                    if (rank > 0)
                        await RunAsync(name, blobs, parse.GetValue(replicas), parse.GetValue(runs), summary, rank, cancellationToken);
                }
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

    static async Task RunAsync(string name, IBlobStore blobs, int replicaCount, int runs, BenchSummary summary, int loraRank,
        CancellationToken cancellationToken)
    {
        var config = BenchModels.Named(name);
        var directory = Directory.CreateTempSubdirectory("rlhf-bench-sync-");
        try
        {
            using var actor = BenchModels.Policy(config, seed: 1);
            var basePath = Path.Combine(directory.FullName, "base");
            ModelCheckpoint.SavePolicy(basePath, actor, new ByteTokenizer(), new CheckpointInfo(0));
            var lora = loraRank > 0 ? Adapters(actor, loraRank) : null;
            var baseSha256 = lora is null ? null : ModelCheckpoint.WeightsSha256(basePath);
            var policyBase = PolicyBase.Load(basePath);
            // One loader per replica, as each generation process has its own (and its own base copy for adapters).
            var replicas = Enumerable.Range(0, replicaCount).Select(_ =>
            {
                var loader = new PolicyLoader(blobs, Microsoft.Extensions.Options.Options.Create(new Rlhf.Generation.GenerationOptions { ModelPath = basePath, Device = "cpu" }));
                var holder = new PolicyHolder();
                holder.SetBase(policyBase);
                holder.Serve(loader.LoadBase(basePath).Policy, canary: null);
                return (Loader: loader, Holder: holder);
            }).ToList();
            try
            {
                Timing? best = null;
                Timing? first = null;
                var totals = new List<double>();
                for (var run = 0; run <= runs; run++)
                {
                    var timing = await PublishAsync(actor, lora, baseSha256, run + 1, blobs, policyBase, replicas, cancellationToken);
                    first ??= timing;
                    if (run > 0)
                        totals.Add(timing.Total);
                    if (run > 0 && (best is null || timing.Total < best.Total))
                        best = timing;
                }

                var megabytes = best!.Bytes / 1e6;
                var update = lora is null ? "full" : $"LoRA r={loraRank}";
                var parameters = lora is null ? BenchModels.Parameters(actor) : LoraParameters(actor);
                Console.WriteLine($"{name,-13} {update,-10} {parameters / 1e6,7:F2}M {megabytes,8:F2} {best.Export,9:F3} {best.Put,7:F3} {best.Replicas,21:F3} " +
                    $"{best.Total,13:F3} {megabytes / best.Total,7:F0}");
                totals.Sort();
                var median = totals.Count % 2 == 1 ? totals[totals.Count / 2] : (totals[totals.Count / 2 - 1] + totals[totals.Count / 2]) / 2;
                Console.WriteLine($"  median of the {totals.Count} timed publishes: {median:F3} s end to end (slowest {totals[^1]:F3} s)");
                if (lora is not null)
                {
                    Console.WriteLine($"  first adapter after a replica's start: {first!.Total:F3} s end to end; " +
                        $"goal <= {AdapterGoalSeconds:F1} s: {(best.Total <= AdapterGoalSeconds ? "met" : "NOT met")} ({best.Total:F3} s)");
                    var (shared, merged) = AdapterDecodeCost(replicas[0].Holder.Champion!.Model, actor, lora, basePath, baseSha256!);
                    Console.WriteLine($"  decode with the served adapter version (shared base, adapters applied per forward) {shared:F0} tok/s vs the same " +
                        $"weights merged (Generation:LoraServing=Merged) {merged:F0} tok/s: {shared / merged:F2}x (batch {DecodeRows}, {DecodeTokens} new tokens, KV cache, best of 2)");
                    summary.Add($"{name}_lora{loraRank}_decode_shared_tps", shared).Add($"{name}_lora{loraRank}_decode_merged_tps", merged);
                }
                else if (megabytes >= GoalMegabytes * 0.9)
                    Console.WriteLine($"goal: {GoalMegabytes:F0} MB in <= {GoalSeconds:F0} s end to end: {megabytes / best.Total * GoalSeconds / GoalMegabytes:P0} of the way " +
                        $"({(best.Total * GoalMegabytes / megabytes <= GoalSeconds ? "met" : "NOT met")}, scaled to 100 MB: {best.Total * GoalMegabytes / megabytes:F2} s)");
                var key = lora is null ? name : $"{name}_lora{loraRank}";
                summary.Add($"{key}_mb", megabytes).Add($"{key}_export_s", best.Export).Add($"{key}_put_s", best.Put)
                    .Add($"{key}_replicas_s", best.Replicas).Add($"{key}_total_s", best.Total).Add($"{key}_median_total_s", median);
                if (lora is not null)
                    summary.Add($"{key}_first_total_s", first!.Total);
            }
            finally
            {
                foreach (var (loader, holder) in replicas)
                {
                    holder.Dispose();
                    loader.Dispose();
                }
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    const int DecodeRows = 16;
    const int DecodeTokens = 32;

    /// <summary>Greedy decode tokens/s of the served (shared-base) adapter model and of the same adapters merged into a copy.</summary>
    static (double Shared, double Merged) AdapterDecodeCost(CausalLM served, CausalLM actor, LoraOptions lora, string basePath, string baseSha256)
    {
        using var adapter = LoraAdapter.From(actor, lora);
        using var merged = PolicyWeightsBlob.Load(basePath, LoraAdapterBlob.Write(adapter), LoraAdapterBlob.Format, baseSha256);
        merged.eval();
        var requests = Enumerable.Range(0, DecodeRows)
            .Select(i => new GenerationRequest(Enumerable.Range(0, 16).Select(t => 32 + (i * 7 + t) % 90).ToArray(), SamplingOptions.Greedy(DecodeTokens)))
            .ToList();
        double Rate(CausalLM model)
        {
            var best = 0.0;
            for (var run = 0; run < 3; run++)   // the first is a warm-up
            {
                var watch = Stopwatch.StartNew();
                var outputs = Sampler.Generate(model, requests, [], 0);
                var rate = outputs.Sum(o => o.TokenIds.Count) / watch.Elapsed.TotalSeconds;
                if (run > 0)
                    best = Math.Max(best, rate);
            }

            return best;
        }

        return (Rate(served), Rate(merged));
    }

    /// <summary>Adapters of <paramref name="rank"/> on every projection with random (non-zero) B, so merging changes every targeted weight.</summary>
    static LoraOptions Adapters(CausalLM actor, int rank)
    {
        var options = new LoraOptions(rank, Alpha: 2 * rank) { TargetModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] };
        actor.AttachLora(options);
        using var noGrad = TorchSharp.torch.no_grad();
        foreach (var (_, layer) in actor.NamedProjections().Where(p => p.Layer.HasLora))
            TorchSharp.torch.nn.init.normal_(layer.LoraB!, 0, 0.01);
        return options;
    }

    static long LoraParameters(CausalLM actor) =>
        actor.NamedProjections().Where(p => p.Layer.HasLora).Sum(p => p.Layer.LoraA!.numel() + p.Layer.LoraB!.numel());

    static async Task<Timing> PublishAsync(CausalLM actor, LoraOptions? lora, string? baseSha256, long version, IBlobStore blobs,
        PolicyBase policyBase, List<(PolicyLoader Loader, PolicyHolder Holder)> replicas, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        byte[] weights;
        if (lora is null)
        {
            weights = ModelCheckpoint.PolicyWeights(actor);   // as the learner exports: serialized in memory
        }
        else
        {
            using var adapter = LoraAdapter.From(actor, lora);
            weights = LoraAdapterBlob.Write(adapter);
        }

        var export = watch.Elapsed.TotalSeconds;

        watch.Restart();
        var blob = await blobs.PutAsync($"policy/{version}", weights, lora is null ? PolicyLoader.WeightsFormat : LoraAdapterBlob.Format, cancellationToken);
        blob = blob with { BaseSha256 = baseSha256 };
        var put = watch.Elapsed.TotalSeconds;

        watch.Restart();
        var record = new ModelVersionRecord(ModelKind.Policy, version, version - 1, blob, new Dictionary<string, double>(), DateTimeOffset.UtcNow);
        await Task.WhenAll(replicas.Select(replica => Task.Run(async () =>
        {
            var loaded = await replica.Loader.LoadAsync(policyBase, record, cancellationToken);
            replica.Holder.Serve(loaded.Policy ?? throw new InvalidOperationException($"a replica refused version {version}: {loaded.Refusal}"), canary: null);
        }, cancellationToken)));
        var load = watch.Elapsed.TotalSeconds;
        await blobs.DeleteAsync(blob, cancellationToken);
        return new Timing(export, put, load, weights.LongLength);
    }
}
