using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Rlhf.Generation;
using Rlhf.Generation.Batching;
using Rlhf.Generation.Policy;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Cli.Bench;

/// <summary>
/// Serving under concurrent streaming clients, in one process and one run: the generation service's continuous
/// batcher (<see cref="GenerationBatcher"/>, tokens reported as they are decoded) against static batching as the
/// service did before (a batch decodes until its longest row ends and answers at the end). Closed-loop clients with
/// mixed max_tokens; time to first token, aggregate generated tokens/s. Without HTTP: the model and the scheduler only.
/// </summary>
static class ServeBenchmark
{
    static readonly ModelConfig Small = new()
    {
        HiddenSize = 512, IntermediateSize = 1408, NumHiddenLayers = 8, NumAttentionHeads = 8, NumKeyValueHeads = 4,
        VocabSize = new ByteTokenizer().VocabSize, MaxPositionEmbeddings = 512,
    };

    sealed record Request(IReadOnlyList<int> Prompt, int MaxTokens, long Seed);

    sealed record Outcome(double TtftMs, int Tokens);

    /// <summary>
    /// What the closed-loop clients send: with <paramref name="Pooled"/>, every client takes the next request of one shared
    /// pool until it is empty (fixed concurrency to the end but for the last requests); otherwise client c sends exactly
    /// <c>Plan[c]</c>. <see cref="Start"/> makes a fresh pool for each measured run.
    /// </summary>
    sealed record Workload(List<List<Request>> Plan, bool Pooled)
    {
        ConcurrentQueue<Request>? pool;

        public int Clients => Plan.Count;

        public Workload Start()
        {
            // Round-robin over the clients' lists, so the pool's order mixes their lengths as the per-client plan does.
            var longest = Plan.Max(p => p.Count);
            pool = new ConcurrentQueue<Request>(Enumerable.Range(0, longest).SelectMany(i => Plan.Where(p => i < p.Count).Select(p => p[i])));
            return this;
        }

        public IEnumerable<Request> RequestsOf(int client)
        {
            if (!Pooled)
            {
                foreach (var request in Plan[client])
                    yield return request;
                yield break;
            }

            while (pool!.TryDequeue(out var request))
                yield return request;
        }
    }

    public static Command Create()
    {
        var clients = new Option<int>("--clients") { Description = "Concurrent streaming clients", DefaultValueFactory = _ => 16 };
        var requests = new Option<int>("--requests") { Description = "Requests per client (all clients draw from one pool of clients x requests)", DefaultValueFactory = _ => 4 };
        var perClient = new Option<bool>("--fixed-per-client") { Description = "Each client sends exactly its own requests (the run ends with fewer clients as they finish) instead of drawing from one pool" };
        var minTokens = new Option<int>("--min-tokens") { Description = "Smallest max_tokens", DefaultValueFactory = _ => 16 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Largest max_tokens", DefaultValueFactory = _ => 128 };
        var batch = new Option<int>("--batch") { Description = "Rows decoded together (Generation:MaxBatchSize)", DefaultValueFactory = _ => 16 };
        var threads = new Option<int>("--threads") { Description = "LibTorch threads (0 = default)", DefaultValueFactory = _ => 0 };
        var command = new Command("serve", "Continuous vs static batching: TTFT p50/p99 and tokens/s with concurrent clients.")
            { clients, requests, minTokens, maxTokens, batch, threads, perClient };
        command.SetAction(parse =>
        {
            TorchRuntime.SetThreads(parse.GetValue(threads));
            Run(parse.GetValue(clients), parse.GetValue(requests), parse.GetValue(minTokens), parse.GetValue(maxTokens), parse.GetValue(batch),
                pooled: !parse.GetValue(perClient));
            return 0;
        });
        return command;
    }

    static void Run(int clients, int perClient, int minTokens, int maxTokens, int batch, bool pooled)
    {
        TorchRuntime.Seed(1);
        var tokenizer = new ByteTokenizer();
        var model = new CausalLM(Small);
        model.eval();
        var stops = new HashSet<int> { tokenizer.EosId };
        // The holder serves the model and disposes it at the end.
        using var holder = new PolicyHolder();
        holder.SetBase(new PolicyBase("", model.Config, tokenizer, Rlhf.Modeling.Templates.ModelChatTemplate.ChatMl, stops));
        holder.Serve(new ServedPolicy(model, 0, DateTimeOffset.UtcNow), canary: null);
        var parameters = model.parameters().Sum(p => p.numel());
        var random = new Random(17);
        var plan = Enumerable.Range(0, clients).Select(c => Enumerable.Range(0, perClient).Select(i => new Request(
            tokenizer.Encode(ChatTemplate.ChatMl.Render([new ChatTurn("user", $"client {c} question {i}: {new string('x', random.Next(8, 48))}")], true)),
            random.Next(minTokens, maxTokens + 1), c * 1000 + i)).ToList()).ToList();
        Console.WriteLine($"serve benchmark: {parameters / 1e6:F1}M params, {clients} clients, {clients * perClient} requests " +
            $"({(pooled ? "one pool the clients draw from, as a load generator with fixed concurrency does" : $"{perClient} per client")}), max_tokens {minTokens}..{maxTokens}, " +
            $"batch {batch} rows, temperature 1 (no early stop token counted), {TorchRuntime.Describe()}");

        // Warm-up of both paths, not measured.
        var warmUp = new Workload(plan.Take(2).Select(p => p.Take(1).ToList()).ToList(), Pooled: false);
        var workload = new Workload(plan, pooled);
        Measure("warm-up", warmUp, r => Continuous(holder, batch, r), print: false);
        Measure("warm-up", warmUp, r => Static(model, tokenizer, stops, batch, r), print: false);
        var continuousWork = new ContinuousWork();
        var continuous = Measure("continuous", workload, r => Continuous(holder, batch, r, continuousWork));
        Console.WriteLine($"continuous decoded {continuousWork.Steps} steps, {continuousWork.Rows / (double)Math.Max(1, continuousWork.Steps):F1} rows per step on average, " +
            $"{continuousWork.FullSteps} of them with all {batch} rows");
        var staticWork = new StaticWork();
        var staticBatching = Measure("static", workload, r => Static(model, tokenizer, stops, batch, r, staticWork));
        var ratio = continuous / staticBatching;
        Console.WriteLine($"continuous / static: {ratio:F2}x aggregate tokens/s");
        var bound = PrintSchedulingBound(staticWork.Steps, staticWork.Tokens, batch, ratio);
        var (prefillBound, single, together, step) = PrintPrefillAwareBound(model, plan.SelectMany(p => p).ToList(), staticWork, batch, ratio);
        new BenchSummary("serve").Add("ratio", ratio).Add("bound", bound).Add("prefill_bound", prefillBound).Add("static_steps", staticWork.Steps)
            .Add("continuous_steps", continuousWork.Steps).Add("tokens", staticWork.Tokens).Add("batch", batch).Add("prefill_1_ms", single * 1000)
            .Add($"prefill_{batch}_ms", together * 1000).Add("step_ms", step * 1000).Print();
    }

    /// <summary>
    /// The scheduling bound counts decode steps only, but both sides also prefill every prompt: static 16 at a time,
    /// continuous one at a time as each joins. Times one (1, L) prefill, one (16, L) prefill and one 16-row decode step
    /// on this model (L = the plan's mean prompt, best of 5 after a warm-up), and prints what static would take by
    /// that cost model and the least continuous could take (every prompt prefilled alone, then tokens / 16 full steps).
    /// </summary>
    static (double Bound, double Single, double Together, double Step) PrintPrefillAwareBound(CausalLM model, List<Request> requests, StaticWork work,
        int batch, double ratio)
    {
        var length = (int)Math.Round(requests.Average(r => r.Prompt.Count));
        var prompt = requests.First(r => r.Prompt.Count >= length).Prompt.Take(length).ToList();
        var sampling = new SamplingOptions(8, Temperature: 1, Seed: 1);
        double Best(Action action)
        {
            action();
            return Enumerable.Range(0, 5).Min(_ =>
            {
                var watch = Stopwatch.StartNew();
                action();
                return watch.Elapsed.TotalSeconds;
            });
        }

        using var decoder = new ContinuousDecoder(model.Config, batch, prompt.Count + 64, model.Device);
        var single = Best(() => decoder.Release(decoder.Admit(model, prompt, [sampling])[0].Row));
        for (var i = 0; i < batch; i++)
            decoder.Admit(model, prompt, [sampling]);
        var step = Best(() => decoder.Step(model));
        var batchPrefill = Best(() => Sampler.Generate(model, Enumerable.Range(0, batch).Select(_ => new GenerationRequest(prompt, sampling with { MaxNewTokens = 1 })).ToList(),
            [], padTokenId: 0));
        var staticModel = work.Batches * batchPrefill + work.Steps * step;
        var fewest = requests.Count * single + Math.Ceiling((double)work.Tokens / batch) * step;
        var bound = staticModel / fewest;
        Console.WriteLine($"prefill-aware bound: a (1, {length}) prefill {single * 1000:F1} ms, a ({batch}, {length}) prefill {batchPrefill * 1000:F1} ms, a {batch}-row decode step " +
            $"{step * 1000:F1} ms; static by that cost model {staticModel:F2} s ({work.Batches} batches, {work.Steps} steps), continuous at best {fewest:F2} s " +
            $"({requests.Count} single prefills, {Math.Ceiling((double)work.Tokens / batch):F0} full steps): at most {bound:F2}x; measured {ratio:F2}x = {ratio / bound:P0} of it");
        return (bound, single, batchPrefill, step);
    }

    /// <summary>Decode steps of the measured continuous run and the rows they decoded (admissions' first tokens not counted).</summary>
    sealed class ContinuousWork(int batch = 16) : IDecodeStepListener
    {
        public long Steps;
        public long Rows;
        public long FullSteps;
        public int Batch { get; set; } = batch;

        public void StepDecoded(long policyVersion, int rows)
        {
            Steps++;
            Rows += rows;
            if (rows >= Batch)
                FullSteps++;
        }
    }

    /// <summary>Decode steps (each batch as long as its longest row) and tokens of the measured static run.</summary>
    sealed class StaticWork
    {
        public long Batches;
        public long Steps;
        public long Tokens;
    }

    /// <summary>
    /// What any scheduler can gain on this plan: static batching ran <paramref name="steps"/> decode steps (each batch as
    /// long as its longest row) for <paramref name="tokens"/> tokens; a scheduler that keeps all <paramref name="batch"/>
    /// rows busy needs at least tokens / batch steps. At equal cost per step, the ratio of the two is the most continuous
    /// batching can gain over static on these requests, whatever its implementation.
    /// </summary>
    static double PrintSchedulingBound(long steps, long tokens, int batch, double ratio)
    {
        var fewest = Math.Ceiling((double)tokens / batch);
        var bound = steps / fewest;
        Console.WriteLine($"scheduling bound: static decoded {steps} steps of up to {batch} rows for {tokens} tokens; a scheduler keeping all {batch} rows busy " +
            $"needs >= {fewest:F0} steps, so continuous can gain at most {bound:F2}x at equal cost per step; measured {ratio:F2}x = {ratio / bound:P0} of that bound");
        return bound;
    }

    static double Measure(string name, Workload workload, Func<Workload, (List<Outcome> Outcomes, TimeSpan Wall)> serve,
        bool print = true)
    {
        var (outcomes, wall) = serve(workload.Start());
        var ttft = outcomes.Select(o => o.TtftMs).Order().ToList();
        var tokens = outcomes.Sum(o => o.Tokens);
        var throughput = tokens / wall.TotalSeconds;
        if (print)
        {
            Console.WriteLine($"{name,-11} requests {outcomes.Count,4}  tokens {tokens,6}  wall {wall.TotalSeconds,6:F2} s  " +
                $"tokens/s {throughput,7:F0}  TTFT p50 {BenchStats.Percentile(ttft, 0.50),7:F0} ms  p99 {BenchStats.Percentile(ttft, 0.99),7:F0} ms");
        }

        return throughput;
    }

    /// <summary>The service's batcher: each client sends its requests one after another, reading tokens as they come.</summary>
    static (List<Outcome>, TimeSpan) Continuous(PolicyHolder holder, int batch, Workload workload, ContinuousWork? work = null)
    {
        var options = Options.Create(new GenerationOptions { MaxBatchSize = batch, MaxN = 1, MaxQueueLength = 10_000, BatchWindowMs = 5 });
        if (work is not null)
            work.Batch = batch;
        using var batcher = new GenerationBatcher(holder, new GenerationStats(), options, NullLogger<GenerationBatcher>.Instance,
            work is null ? null : [work]);
        batcher.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        var outcomes = new ConcurrentBag<Outcome>();
        var wall = Stopwatch.StartNew();
        Task.WaitAll(Enumerable.Range(0, workload.Clients).Select(client => Task.Run(async () =>
        {
            foreach (var request in workload.RequestsOf(client))
            {
                var job = new GenerationJob(request.Prompt, new SamplingOptions(request.MaxTokens, Temperature: 1, Seed: request.Seed), 1, 0,
                    streamed: true);
                var sent = Stopwatch.GetTimestamp();
                if (!batcher.TryEnqueue(job))
                    throw new InvalidOperationException("The queue is full.");
                double? ttft = null;
                await foreach (var jobEvent in job.Events.ReadAllAsync())
                    ttft ??= jobEvent is ChoiceDelta ? Stopwatch.GetElapsedTime(sent).TotalMilliseconds : null;
                var result = await job.WaitAsync(CancellationToken.None);
                outcomes.Add(new Outcome(ttft ?? Stopwatch.GetElapsedTime(sent).TotalMilliseconds, result.Choices[0].TokenIds.Count));
            }
        })).ToArray());
        wall.Stop();
        batcher.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
        return (outcomes.ToList(), wall.Elapsed);
    }

    /// <summary>
    /// Static batching as the service had it: the decode thread takes up to <paramref name="batch"/> waiting requests
    /// (after a 5 ms window), decodes them together until the longest ends, and answers all at once, so the first token
    /// reaches a client when its batch ends.
    /// </summary>
    static (List<Outcome>, TimeSpan) Static(CausalLM model, ITextTokenizer tokenizer, IReadOnlyCollection<int> stops, int batch,
        Workload workload, StaticWork? work = null)
    {
        using var waiting = new BlockingCollection<(Request Request, TaskCompletionSource<GeneratedSequence> Done)>();
        var decoder = Task.Factory.StartNew(() =>
        {
            foreach (var first in waiting.GetConsumingEnumerable())
            {
                var taken = new List<(Request Request, TaskCompletionSource<GeneratedSequence> Done)> { first };
                var window = Stopwatch.StartNew();
                while (taken.Count < batch && waiting.TryTake(out var next, TimeSpan.FromMilliseconds(Math.Max(0, 5 - window.ElapsedMilliseconds))))
                    taken.Add(next);
                var sequences = Sampler.Generate(model,
                    taken.Select(t => new GenerationRequest(t.Request.Prompt, new SamplingOptions(t.Request.MaxTokens, Temperature: 1, Seed: t.Request.Seed))).ToList(),
                    stops, tokenizer.PadId);
                if (work is not null)
                {
                    work.Batches++;
                    work.Steps += sequences.Max(sequence => sequence.TokenIds.Count);
                    work.Tokens += sequences.Sum(sequence => sequence.TokenIds.Count);
                }

                for (var i = 0; i < taken.Count; i++)
                    taken[i].Done.SetResult(sequences[i]);
            }
        }, TaskCreationOptions.LongRunning);

        var outcomes = new ConcurrentBag<Outcome>();
        var wall = Stopwatch.StartNew();
        Task.WaitAll(Enumerable.Range(0, workload.Clients).Select(client => Task.Run(async () =>
        {
            foreach (var request in workload.RequestsOf(client))
            {
                var done = new TaskCompletionSource<GeneratedSequence>(TaskCreationOptions.RunContinuationsAsynchronously);
                var sent = Stopwatch.GetTimestamp();
                waiting.Add((request, done));
                var sequence = await done.Task;
                outcomes.Add(new Outcome(Stopwatch.GetElapsedTime(sent).TotalMilliseconds, sequence.TokenIds.Count));
            }
        })).ToArray());
        wall.Stop();
        waiting.CompleteAdding();
        decoder.Wait();
        return (outcomes.ToList(), wall.Elapsed);
    }
}
