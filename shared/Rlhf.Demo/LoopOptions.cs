using System.ComponentModel.DataAnnotations;
using Rlhf.Modeling;
using Rlhf.Training;

namespace Rlhf.Demo;

/// <summary>Settings of the offline RLHF loop on the demo task (sample, label, train the RM, score, PPO, evaluate).</summary>
public sealed record LoopOptions
{
    /// <summary>Seed of the prompt choice, sampling, labelers and shuffles.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Training questions asked per round.</summary>
    [Range(1, 4096)] public int PromptsPerRound { get; init; } = 32;

    /// <summary>Candidates sampled per question (the n of the chat API); the labelers compare them.</summary>
    [Range(2, 64)] public int CandidatesPerPrompt { get; init; } = 4;

    /// <summary>Serving temperature: rollouts are sampled at it, PPO recomputes log-probs at it, evaluation samples at it.</summary>
    [Range(0.05, 10.0)] public double Temperature { get; init; } = Bootstrapper.EvaluationTemperature;

    [Range(1, 128)] public int MaxNewTokens { get; init; } = Bootstrapper.MaxReplyTokens;

    /// <summary>How the simulated people judge (10% pair flips by default).</summary>
    public LabelerOptions Labelers { get; init; } = new();

    /// <summary>Reward-model optimizer; a tiny model takes a far larger step than InstructGPT's 9e-6.</summary>
    public AdamWOptions RewardModel { get; init; } = new() { LearningRate = 1e-4 };

    /// <summary>Passes over each round's new rankings.</summary>
    [Range(0, 100)] public int RewardModelEpochs { get; init; } = 4;

    /// <summary>Rankings per reward-model step: half from the round's new ones, half replayed from all received so far.</summary>
    [Range(2, 4096)] public int RewardModelBatchSize { get; init; } = 32;

    /// <summary>PPO settings. <see cref="PpoOptions.Temperature"/> and the pad id are set from this record.</summary>
    public PpoOptions Ppo { get; init; } = new()
    {
        Actor = new AdamWOptions { LearningRate = 3e-5 },
        Critic = new AdamWOptions { LearningRate = 2e-4 },
        KlCoef = 0.1,
        PtxCoef = 1.0,
        MiniBatchSize = 32,
        Epochs = 4,
    };

    /// <summary>PTX batch (clean fact documents) per PPO mini-batch when <see cref="PpoOptions.PtxCoef"/> &gt; 0.</summary>
    [Range(1, 4096)] public int PtxBatchSize { get; init; } = 8;

    /// <summary>Train LoRA adapters on the actor instead of all its weights (the reference is then the adapters switched off).</summary>
    public bool UseLora { get; init; }

    public LoraOptions Lora { get; init; } = new(Rank: 8, Alpha: 16) { TargetModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] };

    /// <summary>Run the PPO step; off, only the reward model learns (how fast does it learn from rankings alone?).</summary>
    public bool UpdatePolicy { get; init; } = true;

    /// <summary>Stop at the target (off: run every round, e.g. to compare runs of equal length).</summary>
    public bool StopAtTarget { get; init; } = true;

    /// <summary>Stop once held-out greedy accuracy reaches this.</summary>
    [Range(0.0, 1.0)] public double TargetAccuracy { get; init; } = 0.9;

    /// <summary>Stop once the loop has run this long (bootstrap not included).</summary>
    [Range(1.0, 86_400.0)] public double TimeBudgetSeconds { get; init; } = 600;

    [Range(1, 100_000)] public int MaxRounds { get; init; } = 1000;

    public LoopOptions Validate()
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(this, new ValidationContext(this), results, validateAllProperties: true))
            throw new ArgumentException("Invalid loop options: " + string.Join("; ", results.Select(r => r.ErrorMessage)));
        Ppo.Validate();
        return this;
    }
}
