using System.Diagnostics;
using Rlhf.Modeling;
using Rlhf.Modeling.Generation;
using Rlhf.Modeling.Tokenization;
using Rlhf.Training;
using static TorchSharp.torch;

namespace Rlhf.Demo.Studies;

/// <summary>What the SFT side of a study trains on.</summary>
public enum SftTarget
{
    /// <summary>The answer the labeler preferred among the sampled candidates (top of a ranking, the chosen one of a
    /// pair, a thumbed-up answer; a thumbed-down one gives nothing).</summary>
    Preferred,

    /// <summary>An answer the labeler writes: the concise right one (a demonstration costs one judgement).</summary>
    Demonstrated,
}

/// <summary>A point of a learning curve: held-out accuracy after <paramref name="Judgements"/> judgements.</summary>
public sealed record CurvePoint(int Round, int Judgements, double HeldOutGreedy, double HeldOutSampled, double Seconds);

/// <summary>
/// The SFT alternative to RLHF on the same feedback budget: per round the same number of training questions, the same
/// sampled candidates and the same simulated labelers as the offline loop, but the judgements become SFT targets
/// (<see cref="SftTarget"/>) and the policy is fine-tuned on them with the real <see cref="SftTrainer"/>; no reward
/// model, no PPO. Each round's steps are <see cref="Epochs"/> passes over the new targets, each batch topped up with as
/// many replayed earlier ones (as the loop trains its reward model).
/// </summary>
public sealed class FeedbackSft : IDisposable
{
    /// <summary>SFT step size: larger than PPO's actor step (3e-5), as usual for supervised fine-tuning.</summary>
    public const double LearningRate = 1e-4;

    public const int Epochs = 4;

    const int BatchSize = 32;

    readonly LoopOptions options;
    readonly SftTarget target;
    readonly DemoCorpus corpus = new(new ByteTokenizer());
    readonly IReadOnlyList<ArithmeticQuestion> trainQuestions;
    readonly PolicyProbe probe;
    readonly CausalLM policy;
    readonly SftTrainer trainer;
    readonly SimulatedLabelers labelers;
    readonly Random random;
    readonly List<Demonstration> targets = [];

    public FeedbackSft(BootstrapResult bootstrap, LoopOptions options, SftTarget target)
    {
        this.options = options.Validate();
        this.target = target;
        trainQuestions = DemoCorpus.Questions(bootstrap.Split.Train);
        probe = new PolicyProbe(bootstrap.Split.HeldOut, options.MaxNewTokens);
        random = new Random(options.Seed);
        labelers = new SimulatedLabelers(options.Labelers, options.Seed);
        TorchRuntime.Seed(options.Seed);
        policy = bootstrap.LoadPolicy();
        trainer = new SftTrainer(policy, new SftOptions { Optimizer = new AdamWOptions { LearningRate = LearningRate }, PadTokenId = corpus.Tokenizer.PadId });
    }

    public CausalLM Policy => policy;

    /// <summary>Runs <see cref="LoopOptions.MaxRounds"/> rounds; returns the start and every round.</summary>
    public IReadOnlyList<CurvePoint> Run(Action<CurvePoint>? onRound = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var points = new List<CurvePoint>();
        for (var round = 0; round <= options.MaxRounds; round++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (round > 0)
                Train(Collect(round));
            var evaluation = probe.Evaluate(policy, round);
            var point = new CurvePoint(round, round * options.PromptsPerRound, evaluation.GreedyAccuracy, evaluation.SampledAccuracy, clock.Elapsed.TotalSeconds);
            points.Add(point);
            onRound?.Invoke(point);
        }

        return points;
    }

    /// <summary>Samples the round's candidates, lets the labelers judge them, returns the new SFT targets.</summary>
    List<Demonstration> Collect(int round)
    {
        var questions = Enumerable.Range(0, options.PromptsPerRound).Select(_ => trainQuestions[random.Next(trainQuestions.Count)]).ToList();
        var requests = questions
            .SelectMany((q, i) => Enumerable.Range(0, options.CandidatesPerPrompt).Select(c => new GenerationRequest(corpus.ChatPrompt(q),
                new SamplingOptions(options.MaxNewTokens, options.Temperature, Seed: ((long)options.Seed * 1_000_003 + round) * 100_000 + i * 64 + c))))
            .ToList();
        var generated = PolicyEvaluator.Generate(policy, corpus, requests);
        var fresh = new List<Demonstration>();
        for (var q = 0; q < questions.Count; q++)
        {
            var candidates = generated.Skip(q * options.CandidatesPerPrompt).Take(options.CandidatesPerPrompt).ToList();
            var texts = candidates.Select(c => corpus.DecodeResponse(c.TokenIds)).ToList();
            var feedback = labelers.Judge(questions[q], texts);
            IReadOnlyList<int>? response = target == SftTarget.Demonstrated
                ? corpus.ChatResponse(ArithmeticTask.ConciseAnswer(questions[q], questions[q].Answer))
                : PreferredCandidate(feedback) is { } chosen ? WithEndOfTurn(candidates[chosen].TokenIds) : null;
            if (response is not null)
                fresh.Add(new Demonstration(corpus.ChatPrompt(questions[q]), response));
        }

        targets.AddRange(fresh);
        return fresh;
    }

    void Train(IReadOnlyList<Demonstration> fresh)
    {
        var half = BatchSize / 2;
        for (var epoch = 0; epoch < Epochs; epoch++)
        foreach (var chunk in fresh.OrderBy(_ => random.Next()).Chunk(half))
        {
            var replay = Enumerable.Range(0, BatchSize - chunk.Length).Select(_ => targets[random.Next(targets.Count)]);
            trainer.Step([.. chunk, .. replay]);
        }
    }

    /// <summary>A sampled reply ends at the end-of-turn token when it finished; one cut at the budget gets it appended.</summary>
    IReadOnlyList<int> WithEndOfTurn(IReadOnlyList<int> tokens) =>
        tokens.Count > 0 && tokens[^1] == corpus.EndOfTurnId ? tokens : [.. tokens, corpus.EndOfTurnId];

    /// <summary>The candidate a judgement prefers: the first of a ranking's top tier, the chosen one of a pair, a thumbed-up one; null for a thumb down.</summary>
    public static int? PreferredCandidate(LabelerFeedback feedback) => feedback switch
    {
        RankingFeedback ranking => ranking.Tiers[0][0],
        PairwiseFeedback pair => pair.Chosen,
        RatingFeedback rating => rating.Thumbs == 1 ? rating.Candidate : null,
        _ => throw new ArgumentException($"Unknown feedback {feedback.GetType().Name}.", nameof(feedback)),
    };

    public void Dispose()
    {
        trainer.Dispose();
        policy.Dispose();
    }
}
