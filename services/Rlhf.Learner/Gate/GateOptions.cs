using System.ComponentModel.DataAnnotations;

namespace Rlhf.Learner.Gate;

/// <summary>What the learner trains from after the gate rejects a candidate.</summary>
public enum AfterRejection
{
    /// <summary>Reload the champion's weights (the last checkpoint): the rejected step is undone.</summary>
    Champion,

    /// <summary>Keep training from the rejected candidate's weights (generation still serves the champion). A candidate
    /// whose weights are not finite is never kept.</summary>
    Candidate,
}

/// <summary>
/// Configuration section <c>Learner:Gate</c>: the offline comparison of every candidate (PPO and SFT alike) with the
/// champion on a fixed evaluation set, before it may become a version. Weights must be finite and the KL bound holds
/// always; the comparison runs when evaluation prompts are configured (<see cref="Prompts"/> or <see cref="PromptsFile"/>).
/// </summary>
public sealed class GateOptions : IValidatableObject
{
    /// <summary>Evaluation prompts (user messages).</summary>
    public List<string> Prompts { get; set; } = [];

    /// <summary>A text file with one evaluation prompt per line (blank lines ignored), added to <see cref="Prompts"/>.</summary>
    public string? PromptsFile { get; set; }

    /// <summary>Responses sampled per prompt from champion and candidate, with the same seeds.</summary>
    [Range(1, 64)]
    public int SamplesPerPrompt { get; set; } = 4;

    /// <summary>Seed of the evaluation sampling: sample j of prompt i uses seed <c>Seed + i * SamplesPerPrompt + j</c> for both models.</summary>
    public long Seed { get; set; } = 12_345;

    /// <summary>Tokens sampled per evaluation response.</summary>
    [Range(1, 4096)]
    public int MaxNewTokens { get; set; } = 32;

    /// <summary>Sampling temperature of the evaluation responses.</summary>
    [Range(0.01, 10.0)]
    public double Temperature { get; set; } = 1.0;

    /// <summary>
    /// The most a candidate's win rate against the champion may be below parity (0.5) for any evaluator: the lower
    /// confidence bound of the win rate must be at least <c>0.5 - MaxRegression</c>.
    /// </summary>
    [Range(0.0, 0.5)]
    public double MaxRegression { get; set; } = 0.1;

    /// <summary>One-sided z of the win rate's lower confidence bound (1.645: 95 %; 0: the point estimate).</summary>
    [Range(0.0, 5.0)]
    public double ConfidenceZ { get; set; } = 1.645;

    /// <summary>Score the responses with the promoted reward model (one version, frozen for the comparison). Skipped while no reward model is promoted.</summary>
    public bool RewardModel { get; set; } = true;

    /// <summary>Score the responses with the demo's arithmetic checker (1 when the answer is right, else 0); every prompt must be a demo question.</summary>
    public bool Arithmetic { get; set; }

    /// <summary>Webhook evaluator: POSTs the prompts and responses as JSON and reads one score per response. Empty: off.</summary>
    public string? WebhookUrl { get; set; }

    /// <summary>How long the webhook may take; a timeout rejects the candidate.</summary>
    public TimeSpan WebhookTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>What the learner trains from after a rejection.</summary>
    public AfterRejection AfterRejection { get; set; } = AfterRejection.Champion;

    /// <summary>The evaluation prompts: <see cref="Prompts"/>, then the lines of <see cref="PromptsFile"/>.</summary>
    public IReadOnlyList<string> EvaluationPrompts() =>
        [.. Prompts, .. string.IsNullOrWhiteSpace(PromptsFile) ? [] : File.ReadAllLines(PromptsFile).Where(l => !string.IsNullOrWhiteSpace(l))];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Prompts.Any(string.IsNullOrWhiteSpace))
            yield return new ValidationResult("Gate:Prompts must not hold empty prompts.", [nameof(Prompts)]);
        if (!string.IsNullOrWhiteSpace(PromptsFile) && !File.Exists(PromptsFile))
            yield return new ValidationResult($"Gate:PromptsFile '{PromptsFile}' does not exist.", [nameof(PromptsFile)]);
        if (!string.IsNullOrWhiteSpace(WebhookUrl) && !(Uri.TryCreate(WebhookUrl, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
            yield return new ValidationResult($"Gate:WebhookUrl '{WebhookUrl}' is not an absolute http(s) URL.", [nameof(WebhookUrl)]);
        if (WebhookTimeout <= TimeSpan.Zero)
            yield return new ValidationResult($"Gate:WebhookTimeout must be positive (got {WebhookTimeout}).", [nameof(WebhookTimeout)]);
        if (!Enum.IsDefined(AfterRejection))
            yield return new ValidationResult($"Gate:AfterRejection must be Champion or Candidate (got {AfterRejection}).", [nameof(AfterRejection)]);
    }
}
