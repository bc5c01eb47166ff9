using System.ComponentModel.DataAnnotations;

namespace Rlhf.Feedback;

/// <summary>Configuration section <c>Feedback</c>.</summary>
public sealed class FeedbackOptions : IValidatableObject
{
    public const string SectionName = "Feedback";

    /// <summary>
    /// Client application name -> lower- or upper-case hex SHA-256 of its API key (the key itself is never stored).
    /// Generate a key and its hash with <c>KEY=$(openssl rand -hex 32); printf %s "$KEY" | sha256sum</c>, give the key to
    /// the client app and configure <c>Feedback__ApiKeys__chat-app=&lt;hash&gt;</c>. With no entry every request is refused (401).
    /// </summary>
    public Dictionary<string, string> ApiKeys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Largest accepted request body; larger bodies are refused with 413.</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Requests per minute one rater (per client app) may make, bursts up to the same number; over it: 429.</summary>
    [Range(1, 1_000_000)]
    public int RaterRateLimit { get; set; } = 120;

    /// <summary>
    /// Requests per minute one client application may send, counted across every feedback replica (in Redis when the
    /// stores are; per process otherwise), in fixed one-minute windows; over it: 429 with Retry-After. Counted before the
    /// per-rater limit, refused requests included.
    /// </summary>
    [Range(1, 100_000_000)]
    public int ClientRateLimit { get; set; } = 6000;

    /// <summary>Per-client overrides of <see cref="ClientRateLimit"/> (client name as in <see cref="ApiKeys"/> to requests per minute).</summary>
    public Dictionary<string, int> ClientRateLimits { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Whether rollouts of anonymous chat (generation's <c>AllowAnonymous</c>, no client recorded) take feedback from any
    /// client app. Rollouts with a client take feedback only from that client (403 otherwise), whatever this says.
    /// </summary>
    public bool AcceptFeedbackOnAnonymousRollouts { get; set; } = true;

    /// <summary>
    /// Feedback on a rollout that expires (<c>Storage:RolloutTtl</c> after it was served) within this margin is refused
    /// with 422 up front: the reward service reads the rollouts when it journals the feedback, later than the 202, and
    /// would find them gone. Unset: a tenth of the rollout TTL, at most one hour. It is the lag the reward consumer may have.
    /// </summary>
    public TimeSpan? RolloutExpiryMargin { get; set; }

    /// <summary>The margin in effect for rollouts kept <paramref name="rolloutTtl"/>.</summary>
    public TimeSpan ExpiryMarginFor(TimeSpan rolloutTtl) =>
        RolloutExpiryMargin ?? TimeSpan.FromTicks(Math.Min(TimeSpan.FromHours(1).Ticks, rolloutTtl.Ticks / 10));

    /// <summary>The requests per minute <paramref name="client"/> may send.</summary>
    public int RateLimitOf(string client) => ClientRateLimits.TryGetValue(client, out var limit) ? limit : ClientRateLimit;

    /// <summary>How long a publish may wait for the broker's confirm before the request is answered 503.</summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Group commit of ratings (<see cref="Publishing.RatingGroupCommit"/>): the ratings accepted while a publish is in
    /// flight go out together, at most this many in one <c>RatingsSubmitted</c> message. 0 publishes each rating alone as
    /// a <c>RatingSubmitted</c>, as before group commit (for consumers older than the batch message).
    /// </summary>
    [Range(0, 1000)]
    public int RatingBatchLimit { get; set; } = 64;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var problem in Rlhf.Hosting.Authentication.HashedKeyRing.Problems(ApiKeys, $"{SectionName}:{nameof(ApiKeys)}"))
            yield return new ValidationResult(problem, [nameof(ApiKeys)]);

        foreach (var (client, limit) in ClientRateLimits.Where(l => l.Value < 1))
            yield return new ValidationResult($"{SectionName}:{nameof(ClientRateLimits)}:{client} must be at least 1 (got {limit}).", [nameof(ClientRateLimits)]);

        if (RolloutExpiryMargin is { } margin && margin < TimeSpan.Zero)
            yield return new ValidationResult($"{SectionName}:{nameof(RolloutExpiryMargin)} must not be negative (got {margin}).", [nameof(RolloutExpiryMargin)]);

        if (PublishTimeout <= TimeSpan.Zero || PublishTimeout > TimeSpan.FromMinutes(5))
            yield return new ValidationResult(
                $"{SectionName}:{nameof(PublishTimeout)} must be positive and at most 00:05:00 (got {PublishTimeout}).",
                [nameof(PublishTimeout)]);
    }
}
