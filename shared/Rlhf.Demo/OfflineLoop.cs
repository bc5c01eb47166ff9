using System.Diagnostics;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;
using Rlhf.Training;
using static TorchSharp.torch;

namespace Rlhf.Demo;

/// <summary>
/// One round of the offline loop, measured. Accuracies are by the hidden preference (exact); the RM score is what
/// the reward model believes. A rising <see cref="MeanRmScore"/> with a flat <see cref="HeldOutGreedy"/> is reward hacking.
/// </summary>
/// <param name="Round">0 is the starting point, before any feedback.</param>
/// <param name="Rankings">Rankings the reward model has received so far (pairwise choices and paired thumbs included).</param>
/// <param name="HeldOutGreedy">Held-out questions answered correctly, greedy decoding.</param>
/// <param name="HeldOutSampled">Held-out questions answered correctly, one sample at the serving temperature.</param>
/// <param name="HeldOutConcise">Share of greedy held-out replies that are just the equation.</param>
/// <param name="RolloutAccuracy">Share of this round's sampled training candidates that are correct.</param>
/// <param name="MeanRmScore">Mean reward-model score of this round's candidates (what PPO maximises).</param>
/// <param name="Kl">KL of the sampling policy to the frozen reference, nats per response.</param>
/// <param name="RmAccuracy">Reward model's pairwise accuracy on held-out questions with noise-free labels (all pairs).</param>
/// <param name="RmCorrectnessAccuracy">Same, only the pairs that differ in correctness alone (same style).</param>
/// <param name="FactNll">Next-token NLL of the policy on clean fact text, nats per token (what PTX protects).</param>
public sealed record RoundReport(
    int Round, int Rankings, double HeldOutGreedy, double HeldOutSampled, double HeldOutConcise, double RolloutAccuracy,
    double MeanRmScore, double Kl, double RmAccuracy, double RmCorrectnessAccuracy, double RmLoss, double FactNll,
    double RoundSeconds, double ElapsedSeconds);

/// <summary>What a loop run did.</summary>
public sealed record LoopResult(IReadOnlyList<RoundReport> Rounds, bool ReachedTarget, long TrainableParameters, double Seconds)
{
    public RoundReport Start => Rounds[0];
    public RoundReport End => Rounds[^1];
}

/// <summary>
/// The offline RLHF loop over the real trainers, without a bus: per round, sample n candidates per training question
/// at the serving temperature; simulated labelers judge them; the reward model trains on the new rankings (with as
/// many replayed past ones); it scores the candidates; one PPO step (actor, critic, frozen reference, optional PTX on
/// the clean fact text); then evaluation on held-out questions that are never prompts.
/// </summary>
public sealed class OfflineLoop : IDisposable
{
    readonly LoopOptions options;
    readonly DemoCorpus corpus;
    readonly DemoSplit split;
    readonly IReadOnlyList<ArithmeticQuestion> trainQuestions;
    readonly IReadOnlyList<ArithmeticQuestion> heldOutQuestions;
    readonly CausalLM policy;
    readonly CausalLM? reference;
    readonly ScalarHeadModel critic;
    readonly ScalarHeadModel rewardModel;
    readonly RewardModelTrainer rewardTrainer;
    readonly PpoTrainer ppo;
    readonly SimulatedLabelers labelers;
    readonly FeedbackBuffer feedback = new();
    readonly Random random;
    readonly RewardModelEvaluationSet rmEvaluation;
    readonly IReadOnlyList<Demonstration> factText;

    /// <param name="ptxFacts">Facts of the PTX corpus (default: every fact of the split, held-out ones included).</param>
    public OfflineLoop(BootstrapResult bootstrap, LoopOptions options, IReadOnlyList<(int A, int B, char Op)>? ptxFacts = null)
    {
        this.options = options.Validate();
        corpus = new DemoCorpus(new ByteTokenizer());
        split = bootstrap.Split;
        trainQuestions = DemoCorpus.Questions(split.Train);
        heldOutQuestions = DemoCorpus.Questions(split.HeldOut);
        random = new Random(options.Seed);
        labelers = new SimulatedLabelers(options.Labelers, options.Seed);
        var pad = corpus.Tokenizer.PadId;

        TorchRuntime.Seed(options.Seed);
        policy = bootstrap.LoadPolicy();
        // The critic and the reward model start from the bootstrap's trunk: it already knows the facts, so the RM only
        // has to learn to read them off, which rankings teach quickly (an RM that must learn the facts from rankings
        // alone is too slow at this size and gets hacked; see shared/docs/DEMO-CALIBRATION.md).
        critic = new ScalarHeadModel(policy.Config);
        critic.LoadTrunkFrom(policy);
        rewardModel = new ScalarHeadModel(policy.Config);
        rewardModel.LoadTrunkFrom(policy);
        if (options.UseLora)
        {
            policy.AttachLora(options.Lora);
            reference = null;
        }
        else
        {
            reference = bootstrap.LoadPolicy();
        }

        rewardTrainer = new RewardModelTrainer(rewardModel, new RewardModelOptions { Optimizer = options.RewardModel, PadTokenId = pad });
        var ppoOptions = options.Ppo with { Temperature = options.Temperature, PadTokenId = pad, Seed = options.Seed };
        var ptx = ppoOptions.PtxCoef > 0
            ? corpus.PtxSource(ptxFacts ?? split.All, bootstrap.Options.FactsPerDocument, bootstrap.Options.QaShare, options.PtxBatchSize, options.Seed)
            : null;
        ppo = new PpoTrainer(policy, critic, reference, ppoOptions, ptx);
        TrainableParameters = policy.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
        rmEvaluation = RewardModelEvaluationSet.Build(corpus, heldOutQuestions, options.Seed);
        var factRandom = new Random(options.Seed + 1);
        factText = Enumerable.Range(0, 32)
            .Select(_ => corpus.FactDocument(Enumerable.Range(0, bootstrap.Options.FactsPerDocument).Select(_ => split.All[factRandom.Next(split.All.Count)]).ToList()))
            .ToList();
    }

    public CausalLM Policy => policy;

    public long TrainableParameters { get; }

    /// <summary>Rankings the reward model has received so far (pairwise choices and paired thumbs included).</summary>
    public int RankingsReceived => feedback.Rankings.Count;

    /// <summary>Runs rounds until the held-out greedy accuracy reaches the target, the time budget is spent or the rounds run out.</summary>
    public LoopResult Run(Action<RoundReport>? onRound = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var rounds = new List<RoundReport> { Evaluate(0, double.NaN, double.NaN, double.NaN, double.NaN, 0, clock) };
        onRound?.Invoke(rounds[0]);
        var reached = options.StopAtTarget && rounds[0].HeldOutGreedy >= options.TargetAccuracy;
        for (var round = 1; !reached && round <= options.MaxRounds && clock.Elapsed.TotalSeconds < options.TimeBudgetSeconds; round++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var report = RunRound(round, clock);
            rounds.Add(report);
            onRound?.Invoke(report);
            reached = options.StopAtTarget && report.HeldOutGreedy >= options.TargetAccuracy;
        }

        return new LoopResult(rounds, rounds.Any(r => r.HeldOutGreedy >= options.TargetAccuracy), TrainableParameters, clock.Elapsed.TotalSeconds);
    }

    RoundReport RunRound(int round, Stopwatch clock)
    {
        var started = clock.Elapsed.TotalSeconds;
        using var scope = NewDisposeScope();

        // 1. Sample n candidates per training question at the serving temperature, all in one batch.
        var questions = Enumerable.Range(0, options.PromptsPerRound).Select(_ => trainQuestions[random.Next(trainQuestions.Count)]).ToList();
        var prompts = questions.Select(corpus.ChatPrompt).ToList();
        var version = ppo.PolicyVersion;
        var requests = prompts
            .SelectMany((prompt, q) => Enumerable.Range(0, options.CandidatesPerPrompt).Select(c => new GenerationRequest(
                prompt, new SamplingOptions(options.MaxNewTokens, options.Temperature, Seed: SampleSeed(round, q, c)))))
            .ToList();
        var generated = PolicyEvaluator.Generate(policy, corpus, requests);

        // 2. The simulated people judge each question's candidates.
        var newRankings = new List<Ranking>();
        var correct = 0;
        for (var q = 0; q < questions.Count; q++)
        {
            var candidates = generated.Skip(q * options.CandidatesPerPrompt).Take(options.CandidatesPerPrompt).ToList();
            var texts = candidates.Select(c => corpus.DecodeResponse(c.TokenIds)).ToList();
            correct += texts.Count(t => ArithmeticTask.IsCorrect(questions[q], t));
            newRankings.AddRange(feedback.Add(prompts[q], candidates.Select(c => c.TokenIds).ToList(), labelers.Judge(questions[q], texts)));
        }

        // 3. The reward model learns from the new rankings, each batch topped up with as many replayed ones.
        var rmLoss = TrainRewardModel(newRankings);

        // 4. It scores the candidates; 5. one PPO step on them.
        var sequences = prompts.SelectMany(p => Enumerable.Repeat(p, options.CandidatesPerPrompt))
            .Zip(generated, (p, g) => (Prompt: p, Response: g.TokenIds)).ToList();
        var scores = Score(sequences);
        var rollouts = sequences.Select((s, i) => new Rollout(s.Prompt, s.Response, generated[i].LogProbs, scores[i], version)).ToList();
        var kl = options.UpdatePolicy ? ppo.Step(rollouts).Kl : 0;

        return Evaluate(round, (double)correct / generated.Count, scores.Average(), kl, rmLoss, started, clock);
    }

    /// <summary>
    /// <see cref="LoopOptions.RewardModelEpochs"/> passes over the round's new rankings; each step's batch holds half
    /// new rankings and half rankings replayed uniformly from everything received so far.
    /// </summary>
    double TrainRewardModel(IReadOnlyList<Ranking> newRankings)
    {
        var half = Math.Max(1, options.RewardModelBatchSize / 2);
        var losses = new List<double>();
        for (var epoch = 0; epoch < options.RewardModelEpochs; epoch++)
        {
            foreach (var chunk in newRankings.OrderBy(_ => random.Next()).Chunk(half))
            {
                var replay = Enumerable.Range(0, options.RewardModelBatchSize - chunk.Length)
                    .Select(_ => feedback.Rankings[random.Next(feedback.Rankings.Count)]);
                var metrics = rewardTrainer.Step([.. chunk, .. replay]);
                if (metrics.Applied)
                    losses.Add(metrics.Loss);
            }
        }

        return losses.Count == 0 ? double.NaN : losses.Average();
    }

    double[] Score(IReadOnlyList<(IReadOnlyList<int> Prompt, IReadOnlyList<int> Response)> sequences)
    {
        var scores = new List<double>(sequences.Count);
        foreach (var chunk in sequences.Chunk(256))
        {
            using var result = rewardTrainer.Score(chunk);
            scores.AddRange(result.data<float>().ToArray().Select(x => (double)x));
        }

        return [.. scores];
    }

    RoundReport Evaluate(int round, double rolloutAccuracy, double meanScore, double kl, double rmLoss, double started, Stopwatch clock)
    {
        var heldOut = PolicyEvaluator.Evaluate(policy, corpus, heldOutQuestions, options.Temperature, options.MaxNewTokens, seed: 9_000_000L + round * 1_000L);
        var (rmAll, rmCorrectness) = rmEvaluation.Accuracy(Score(rmEvaluation.Sequences));
        var elapsed = clock.Elapsed.TotalSeconds;
        return new RoundReport(
            round, feedback.Rankings.Count, heldOut.GreedyAccuracy, heldOut.SampledAccuracy, heldOut.GreedyConciseShare, rolloutAccuracy,
            meanScore, kl, rmAll, rmCorrectness, rmLoss, FactNll(), elapsed - started, elapsed);
    }

    double FactNll()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var batch = Scoring.Collate(factText.Select(d => (d.PromptTokenIds, d.ResponseTokenIds)).ToList(), corpus.Tokenizer.PadId, policy.Device);
        var logProbs = Scoring.TokenLogProbs(policy, batch.InputIds, batch.AttentionMask);
        return RlhfMath.NextTokenNll(logProbs, batch.TargetResponseMask()).item<float>();
    }

    long SampleSeed(int round, int question, int candidate) =>
        ((long)options.Seed * 1_000_003 + round) * 100_000 + question * 64 + candidate;

    public void Dispose()
    {
        ppo.Dispose();
        rewardTrainer.Dispose();
        policy.Dispose();
        reference?.Dispose();
        critic.Dispose();
        rewardModel.Dispose();
    }
}

/// <summary>
/// Noise-free rankings of held-out questions for measuring the reward model: per question a concise correct reply,
/// a rambling correct one, and a concise and a rambling one that misread the second number (the bootstrap's own error).
/// </summary>
sealed class RewardModelEvaluationSet
{
    const int Candidates = 4;

    RewardModelEvaluationSet(IReadOnlyList<(IReadOnlyList<int> Prompt, IReadOnlyList<int> Response)> sequences, int[] hiddenScores)
    {
        Sequences = sequences;
        HiddenScores = hiddenScores;
    }

    public IReadOnlyList<(IReadOnlyList<int> Prompt, IReadOnlyList<int> Response)> Sequences { get; }

    int[] HiddenScores { get; }

    public static RewardModelEvaluationSet Build(DemoCorpus corpus, IReadOnlyList<ArithmeticQuestion> questions, int seed)
    {
        var random = new Random(seed);
        var sequences = new List<(IReadOnlyList<int>, IReadOnlyList<int>)>();
        var scores = new List<int>();
        foreach (var q in questions)
        {
            var prompt = corpus.ChatPrompt(q);
            var misread = ArithmeticTask.Misread(q) ?? q with { A = q.A + 1 };
            string[] replies =
            [
                ArithmeticTask.ConciseAnswer(q, q.Answer),
                ArithmeticTask.RamblingAnswer(q, q.Answer, random.Next(3)),
                ArithmeticTask.ConciseAnswer(misread, misread.Answer),
                ArithmeticTask.RamblingAnswer(misread, misread.Answer, random.Next(3)),
            ];
            foreach (var reply in replies)
            {
                sequences.Add((prompt, corpus.ChatResponse(reply)));
                scores.Add(SimulatedLabelers.HiddenScore(q, reply));
            }
        }

        return new RewardModelEvaluationSet(sequences, [.. scores]);
    }

    /// <summary>(all pairs, correctness-only pairs) ranked the same way by the scores as by the hidden preference.</summary>
    public (double All, double Correctness) Accuracy(IReadOnlyList<double> scores)
    {
        int all = 0, allRight = 0, correctness = 0, correctnessRight = 0;
        for (var start = 0; start < scores.Count; start += Candidates)
        for (var i = start; i < start + Candidates; i++)
        for (var j = start; j < start + Candidates; j++)
        {
            if (HiddenScores[i] <= HiddenScores[j])
                continue;
            var right = scores[i] > scores[j];
            all++;
            allRight += right ? 1 : 0;
            // Same style, different correctness: the hidden scores differ by exactly 2 (correct) with equal concision.
            if (HiddenScores[i] - HiddenScores[j] == 2)
            {
                correctness++;
                correctnessRight += right ? 1 : 0;
            }
        }

        return ((double)allRight / all, (double)correctnessRight / correctness);
    }
}
