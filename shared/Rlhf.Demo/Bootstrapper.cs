using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;
using Rlhf.Training;
using static TorchSharp.torch;

namespace Rlhf.Demo;

/// <summary>Progress of a bootstrap run.</summary>
/// <param name="Step">Steps done.</param>
/// <param name="Loss">Mean next-token NLL of the recent steps, nats per token.</param>
/// <param name="Evaluation">Held-out measurements at this step, when one was asked for.</param>
public sealed record BootstrapProgress(int Step, int Steps, double Loss, TimeSpan Elapsed, BootstrapReport? Evaluation = null);

/// <summary>How the bootstrap policy behaves on held-out questions (and whether it knows the held-out facts).</summary>
/// <param name="KnowledgeAccuracy">Share of held-out facts completed correctly as plain text "a op b = ".</param>
/// <param name="TrainingSeconds">Wall time of the training that produced the checkpoint.</param>
public sealed record BootstrapReport(PolicyEvaluation HeldOut, double KnowledgeAccuracy, int Parameters, double TrainingSeconds);

/// <summary>The bootstrap policy and where it came from.</summary>
/// <param name="Directory">Checkpoint directory (HF layout) of the policy.</param>
/// <param name="Reused">True when the checkpoint came from the cache.</param>
public sealed record BootstrapResult(
    string Directory, bool Reused, BootstrapOptions Options, DemoSplit Split, BootstrapReport Report)
{
    /// <summary>Loads the policy (a fresh copy on every call).</summary>
    public CausalLM LoadPolicy() => ModelCheckpoint.LoadPolicy(Directory);
}

/// <summary>The fact split of a run: RLHF prompts come from <see cref="Train"/> only.</summary>
public sealed record DemoSplit(IReadOnlyList<(int A, int B, char Op)> Train, IReadOnlyList<(int A, int B, char Op)> HeldOut)
{
    /// <summary>Facts set aside from <see cref="Train"/> for the learner's release gate.</summary>
    public const int GateFactCount = 24;

    /// <summary>
    /// The release gate's evaluation facts: the first <see cref="GateFactCount"/> of <see cref="Train"/> (already in the
    /// split's shuffled order). Disjoint from <see cref="HeldOut"/>, so the gate never grades on what the report
    /// measures, and left out of <see cref="RlhfPrompts"/>, so it does not grade on what the policy was trained on either.
    /// </summary>
    public IReadOnlyList<(int A, int B, char Op)> Gate => Train.Take(GateFactCount).ToList();

    /// <summary>The facts the simulated users ask about: <see cref="Train"/> without <see cref="Gate"/>.</summary>
    public IReadOnlyList<(int A, int B, char Op)> RlhfPrompts => Train.Skip(GateFactCount).ToList();

    /// <summary>The gate's prompts: each gate fact in every phrasing (as the report asks the held-out facts).</summary>
    public IReadOnlyList<string> GatePrompts() => DemoCorpus.Questions(Gate).Select(q => q.Text).ToList();

    public static DemoSplit From(BootstrapOptions options)
    {
        var (train, heldOut) = ArithmeticTask.Split(options.HeldOutShare, options.Seed);
        return new DemoSplit(train, heldOut);
    }

    public IReadOnlyList<(int A, int B, char Op)> All => [.. Train, .. HeldOut];
}

/// <summary>
/// Trains the deliberately imperfect starting policy: one run over a mixture of clean plain-text fact lines for every
/// fact ("7 + 5 = 12", the knowledge) and ChatML demonstrations by a noisy demonstrator (a share of answers off by
/// one, some rambling, a little small talk: the behaviour). Trained together, the model holds the facts and answers in
/// chat with a mixture of the right and the off-by-one mode, which is what RLHF can then correct. The checkpoint is
/// cached under <c>{cacheRoot}/{hash of the options}</c> and reused.
/// </summary>
public static class Bootstrapper
{
    const string PolicyDirectory = "policy";
    const string ReportFile = "bootstrap.json";
    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Serving temperature and reply budget used by the evaluations.</summary>
    public const double EvaluationTemperature = 1.0;

    public const int MaxReplyTokens = 48;

    public static string CacheDirectory(string cacheRoot, BootstrapOptions options) => Path.Combine(cacheRoot, options.Hash());

    /// <summary>Returns the cached bootstrap for <paramref name="options"/>, training it first when there is none.</summary>
    /// <param name="evaluateEvery">Also measure the held-out behaviour every this many steps (0: only at the end).</param>
    public static BootstrapResult LoadOrTrain(BootstrapOptions options, string cacheRoot, Action<BootstrapProgress>? progress = null, int evaluateEvery = 0)
    {
        options.Validate();
        var directory = CacheDirectory(cacheRoot, options);
        var split = DemoSplit.From(options);
        var reportPath = Path.Combine(directory, ReportFile);
        // One trainer per settings at a time: a second process (another demo, a parallel test) waits and reuses.
        Directory.CreateDirectory(cacheRoot);
        using var trainerLock = AcquireLock($"{directory}.lock");
        if (File.Exists(reportPath))
        {
            var cached = JsonSerializer.Deserialize<CachedBootstrap>(File.ReadAllText(reportPath), Json)
                ?? throw new InvalidDataException($"{reportPath} is empty.");
            return new BootstrapResult(Path.Combine(directory, PolicyDirectory), Reused: true, options, split, cached.Report);
        }

        var staging = $"{directory}.tmp-{Guid.NewGuid():N}";
        try
        {
            var report = Train(options, split, Path.Combine(staging, PolicyDirectory), progress, evaluateEvery);
            File.WriteAllText(Path.Combine(staging, ReportFile), JsonSerializer.Serialize(new CachedBootstrap(options, report), Json));
            Directory.CreateDirectory(cacheRoot);
            try
            {
                Directory.Move(staging, directory);
            }
            catch (IOException) when (File.Exists(reportPath))
            {
                // Another process finished the same bootstrap first: its checkpoint is as good as ours.
            }

            return new BootstrapResult(Path.Combine(directory, PolicyDirectory), Reused: false, options, split, report);
        }
        finally
        {
            if (Directory.Exists(staging))
                Directory.Delete(staging, recursive: true);
        }
    }

    static FileStream AcquireLock(string path)
    {
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException)
            {
                Thread.Sleep(500);
            }
        }
    }

    static BootstrapReport Train(BootstrapOptions options, DemoSplit split, string policyDirectory, Action<BootstrapProgress>? progress, int evaluateEvery)
    {
        var tokenizer = new ByteTokenizer();
        var corpus = new DemoCorpus(tokenizer);
        var random = new Random(options.Seed);
        var questions = new CorpusQuestions(DemoCorpus.Questions(options.HeldOutFactsInChat ? split.All : split.Train), split.All);

        TorchRuntime.Seed(options.Seed);
        using var policy = new CausalLM(options.CreateModelConfig());
        var clock = Stopwatch.StartNew();
        var annealFrom = (int)Math.Round(options.Steps * (1 - options.AnnealShare));
        var recentLoss = new Queue<double>();
        SftTrainer? trainer = null;
        try
        {
            for (var step = 0; step < options.Steps; step++)
            {
                if (step == 0 || step == annealFrom)
                {
                    trainer?.Dispose();
                    var rate = step < annealFrom ? options.LearningRate : options.AnnealLearningRate;
                    trainer = new SftTrainer(policy, new SftOptions { Optimizer = new AdamWOptions { LearningRate = rate, Beta2 = options.Beta2 }, PadTokenId = tokenizer.PadId });
                }

                var batch = Enumerable.Range(0, options.BatchSize).Select(_ => Sample(options, corpus, questions, random)).ToList();
                var metrics = trainer!.Step(batch);
                recentLoss.Enqueue(metrics.Loss);
                if (recentLoss.Count > 20)
                    recentLoss.Dequeue();
                if (progress is null || ((step + 1) % 25 != 0 && step + 1 != options.Steps))
                    continue;
                var evaluation = evaluateEvery > 0 && (step + 1) % evaluateEvery == 0 && step + 1 != options.Steps
                    ? Evaluate(policy, corpus, split, clock.Elapsed.TotalSeconds)
                    : null;
                progress(new BootstrapProgress(step + 1, options.Steps, recentLoss.Average(), clock.Elapsed, evaluation));
            }
        }
        finally
        {
            trainer?.Dispose();
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var report = Evaluate(policy, corpus, split, seconds);
        ModelCheckpoint.SavePolicy(policyDirectory, policy, tokenizer, new CheckpointInfo(0, Notes: new Dictionary<string, string>
        {
            ["demo.bootstrap.hash"] = options.Hash(),
            ["demo.heldout.greedy_accuracy"] = report.HeldOut.GreedyAccuracy.ToString("F4", CultureInfo.InvariantCulture),
            ["demo.heldout.sampled_accuracy"] = report.HeldOut.SampledAccuracy.ToString("F4", CultureInfo.InvariantCulture),
            ["demo.heldout.knowledge_accuracy"] = report.KnowledgeAccuracy.ToString("F4", CultureInfo.InvariantCulture),
            ["demo.training_seconds"] = seconds.ToString("F1", CultureInfo.InvariantCulture),
        }));
        return report;
    }

    /// <summary>Held-out behaviour and knowledge of a policy, as reported for the bootstrap.</summary>
    public static BootstrapReport Evaluate(CausalLM policy, DemoCorpus corpus, DemoSplit split, double trainingSeconds)
    {
        var heldOut = PolicyEvaluator.Evaluate(policy, corpus, DemoCorpus.Questions(split.HeldOut), EvaluationTemperature, MaxReplyTokens, seed: 7_000_000);
        var knowledge = PolicyEvaluator.KnowledgeAccuracy(policy, corpus, split.HeldOut);
        var parameters = (int)policy.parameters().Sum(p => p.numel());
        return new BootstrapReport(heldOut, knowledge, parameters, trainingSeconds);
    }

    static Demonstration Sample(BootstrapOptions options, DemoCorpus corpus, CorpusQuestions questions, Random random)
    {
        var draw = random.NextDouble();
        if (draw < options.ChatShare)
            return random.NextDouble() < options.SmallTalkShare
                ? corpus.SmallTalkDemonstration(random)
                : corpus.ChatDemonstration(questions.Chat[random.Next(questions.Chat.Count)], options.SloppyShare, options.SloppyMisreadShare, random);
        return corpus.FactDocument(
            Enumerable.Range(0, options.FactsPerDocument).Select(_ => questions.Facts[random.Next(questions.Facts.Count)]).ToList(), options.QaShare, random);
    }

    sealed record CorpusQuestions(
IReadOnlyList<ArithmeticQuestion> Chat, IReadOnlyList<(int A, int B, char Op)> Facts);

    sealed record CachedBootstrap(BootstrapOptions Options, BootstrapReport Report);
}
