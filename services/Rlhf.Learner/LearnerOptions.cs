using System.ComponentModel.DataAnnotations;
using Rlhf.Learner.Gate;
using Rlhf.Learner.Release;
using Rlhf.Modeling;
using Rlhf.Training;

namespace Rlhf.Learner;

/// <summary>Configuration section <c>Learner</c>; validated when the host starts.</summary>
public sealed class LearnerOptions : IValidatableObject
{
    public const string SectionName = "Learner";

    /// <summary>
    /// Base policy checkpoint directory (config.json, model.safetensors, tokenizer files). It is also the frozen SFT
    /// reference, and the critic starts from its trunk. Empty: the learner has nothing to train, so it consumes nothing
    /// (its queues keep their messages) and its status says so.
    /// </summary>
    public string? ModelPath { get; set; }

    /// <summary>Where trainer checkpoints live (one directory per checkpoint; the newest complete one is resumed).</summary>
    [Required]
    public string StateDirectory { get; set; } = Path.Combine("state", "learner");

    /// <summary>Scored rollouts per PPO step (the batch consumer's message limit).</summary>
    [Range(1, 4096)]
    public int BatchSize { get; set; } = 32;

    /// <summary>How long a partial batch waits for more rollouts before it is trained on anyway.</summary>
    public TimeSpan BatchTimeLimit { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Rollouts from a policy more than this many promoted versions behind the learner are dropped.</summary>
    [Range(0, 1000)]
    public int MaxPolicyLag { get; set; } = 2;

    /// <summary>
    /// Evaluation gate: a candidate whose KL to the reference on the evaluation prompts exceeds this many nats per
    /// response is rejected (<c>PolicyRejected</c>) and the learner keeps its current weights.
    /// </summary>
    [Range(0.0, double.MaxValue)]
    public double KlBound { get; set; } = 5.0;

    /// <summary>User messages used as held-out evaluation prompts; empty: the distinct prompts of the batch.</summary>
    public List<string> EvalPrompts { get; set; } = [];

    /// <summary>Most evaluation prompts sampled per candidate.</summary>
    [Range(1, 1024)]
    public int EvalSamples { get; set; } = 8;

    /// <summary>Tokens sampled per evaluation prompt (shortened to what the context leaves).</summary>
    [Range(1, 4096)]
    public int EvalMaxNewTokens { get; set; } = 32;

    /// <summary>Demonstrations per SFT batch.</summary>
    [Range(1, 4096)]
    public int DemonstrationBatchSize { get; set; } = 8;

    /// <summary>How long a partial demonstration batch waits before it is trained on.</summary>
    public TimeSpan DemonstrationBatchTimeLimit { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>SFT optimizer steps per demonstration batch (each over the whole batch).</summary>
    [Range(1, 1000)]
    public int SftStepsPerBatch { get; set; } = 1;

    /// <summary>Prefix of the learner's queue names (<c>{prefix}-rollout-scored</c>, <c>{prefix}-demonstrations</c>,
    /// <c>{prefix}-policy-rollback</c>).</summary>
    [RegularExpression("^[a-z0-9][a-z0-9-]*$", ErrorMessage = "QueuePrefix may hold lower-case letters, digits and '-' only.")]
    public string QueuePrefix { get; set; } = "learner";

    /// <summary>LibTorch intra-op threads; 0 keeps LibTorch's default.</summary>
    [Range(0, 1024)]
    public int Threads { get; set; }

    /// <summary>
    /// 1-19: at start the process takes a Linux session of its own and gives its autogroup this nice value, so under CPU
    /// contention PPO and SFT steps yield to generation (what users wait for), feedback intake, RabbitMQ and Redis on the
    /// same machine, and take whole cores when those are idle (<see cref="Rlhf.Hosting.CpuSession"/>); <c>rlhf up</c> sets
    /// 10. 0 (default) leaves the process in the session it was started in. Only where the kernel has autogroup; in
    /// containers give the pod a lower CPU request instead. The process also leaves its terminal (a terminal's Ctrl-C no
    /// longer reaches it).
    /// </summary>
    [Range(0, 19)]
    public int SessionNice { get; set; }

    /// <summary><c>cpu</c>, <c>cuda</c>, <c>cuda:N</c> or <c>auto</c>: where every model and tensor of the learner lives.</summary>
    [RegularExpression(Rlhf.Modeling.TorchRuntime.DevicePattern, ErrorMessage = "Device must be cpu, cuda, cuda:N or auto.")]
    public string Device { get; set; } = "auto";

    /// <summary>Seed of LibTorch's generator at start (the critic's fresh head) and of evaluation sampling.</summary>
    public long Seed { get; set; } = 1;

    /// <summary>PPO hyper-parameters. <see cref="PpoOptions.MaxPolicyLag"/> is taken from <see cref="MaxPolicyLag"/> and
    /// <see cref="PpoOptions.PadTokenId"/> from the tokenizer.</summary>
    public PpoOptions Ppo { get; set; } = new();

    /// <summary>SFT hyper-parameters for demonstrations (<see cref="SftOptions.PadTokenId"/> comes from the tokenizer).</summary>
    public SftOptions Sft { get; set; } = new();

    /// <summary>
    /// PPO-ptx corpus: a JSONL file with one <c>{"text": "..."}</c> document per line (the pretraining mix the policy
    /// must not forget). Required exactly when <see cref="PpoOptions.PtxCoef"/> is above zero.
    /// </summary>
    public string? PtxCorpusPath { get; set; }

    /// <summary>Documents per PTX batch (one batch per PPO mini-batch update).</summary>
    [Range(1, 4096)]
    public int PtxBatchSize { get; set; } = 8;

    /// <summary>LoRA adapters instead of full fine-tuning (<c>Learner:Lora</c>); off by default (Rank 0).</summary>
    public LearnerLoraOptions Lora { get; set; } = new();

    /// <summary>The offline gate against the champion (<c>Learner:Gate</c>).</summary>
    public GateOptions Gate { get; set; } = new();

    /// <summary>The live canary stage after the gate (<c>Learner:Canary</c>); off by default.</summary>
    public CanaryOptions Canary { get; set; } = new();

    /// <summary>The reward-hacking alarm over the gate's comparisons (<c>Learner:Alarm</c>).</summary>
    public AlarmOptions Alarm { get; set; } = new();

    public bool HasModel => !string.IsNullOrWhiteSpace(ModelPath);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (HasModel && !File.Exists(Path.Combine(ModelPath!, ModelCheckpoint.ConfigFile)))
            yield return new ValidationResult($"ModelPath '{ModelPath}' is not a checkpoint directory (no {ModelCheckpoint.ConfigFile}).", [nameof(ModelPath)]);
        if (BatchTimeLimit <= TimeSpan.Zero)
            yield return new ValidationResult($"BatchTimeLimit must be positive (got {BatchTimeLimit}).", [nameof(BatchTimeLimit)]);
        if (DemonstrationBatchTimeLimit <= TimeSpan.Zero)
            yield return new ValidationResult($"DemonstrationBatchTimeLimit must be positive (got {DemonstrationBatchTimeLimit}).", [nameof(DemonstrationBatchTimeLimit)]);
        if (Ppo.PtxCoef > 0 && (string.IsNullOrWhiteSpace(PtxCorpusPath) || !File.Exists(PtxCorpusPath)))
            yield return new ValidationResult($"Ppo:PtxCoef is {Ppo.PtxCoef} but PtxCorpusPath '{PtxCorpusPath}' is not an existing JSONL file.", [nameof(PtxCorpusPath)]);
        if (Ppo.PtxCoef == 0 && !string.IsNullOrWhiteSpace(PtxCorpusPath))
            yield return new ValidationResult("PtxCorpusPath is set but Ppo:PtxCoef is 0: set both or neither.", [nameof(PtxCorpusPath)]);
        if (EvalPrompts.Any(string.IsNullOrWhiteSpace))
            yield return new ValidationResult("EvalPrompts must not hold empty prompts.", [nameof(EvalPrompts)]);
        var gateFailures = new List<ValidationResult>();
        Validator.TryValidateObject(Gate, new ValidationContext(Gate), gateFailures, validateAllProperties: true);
        foreach (var failure in Nested(nameof(Canary), Canary).Concat(Nested(nameof(Alarm), Alarm)).Concat(Nested(nameof(Lora), Lora)))
            yield return failure;
        foreach (var failure in gateFailures)
            yield return new ValidationResult($"{nameof(Gate)}: {failure.ErrorMessage}", [.. failure.MemberNames.Select(m => $"{nameof(Gate)}:{m}")]);
        foreach (var failure in Check(nameof(Ppo), () => Ppo.Validate()).Concat(Check(nameof(Sft), () => Sft.Validate())))
            yield return failure;
    }

    static IEnumerable<ValidationResult> Nested(string member, object options)
    {
        var failures = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), failures, validateAllProperties: true);
        return failures.Select(f => new ValidationResult($"{member}: {f.ErrorMessage}", [.. f.MemberNames.Select(m => $"{member}:{m}")]));
    }

    static IEnumerable<ValidationResult> Check(string member, Action validate)
    {
        try
        {
            validate();
        }
        catch (ArgumentException error)
        {
            return [new ValidationResult($"{member}: {error.Message}", [member])];
        }

        return [];
    }
}
