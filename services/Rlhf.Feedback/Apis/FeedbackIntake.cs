using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Feedback.Identity;
using Rlhf.Feedback.Publishing;
using Rlhf.Feedback.Quotas;
using Rlhf.Hosting;
using Rlhf.Storage;
using StackExchange.Redis;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>The body of a 202: the feedback was published and the broker confirmed it.</summary>
public sealed record FeedbackAccepted(Guid FeedbackId, string Status);

/// <summary>
/// One submission from body to broker: read and parse the body, normalize the rater id, check it, count the client's
/// quota and rate-limit the rater, honour the <c>Idempotency-Key</c>, validate against the stored rollouts (refusing
/// rollouts another client generated), claim "counts once" keys, publish, and answer 202
/// only after the publish completed (with publisher confirms on, that is after the broker's confirm; published as
/// mandatory, so an unroutable message is a 503, not a silent drop). Every other
/// outcome leaves nothing behind: the idempotency reservation is abandoned and the claim released, so a retry works.
/// </summary>
public sealed class FeedbackIntake(
    IPublishEndpoint publisher,
    RatingGroupCommit ratingGroupCommit,
    IRolloutStore rollouts,
    IClaimStore claims,
    IIdempotencyStore idempotency,
    RaterRateLimiter rateLimiter,
    IClientQuota clientQuota,
    IOptions<FeedbackOptions> options,
    IOptions<StorageOptions> storage,
    TimeProvider time,
    ILogger<FeedbackIntake> logger)
{
    public const string IdempotencyKeyHeader = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    public const int MaxIdempotencyKeyLength = 255;

    /// <summary>
    /// Request bodies are parsed strictly: snake_case names, no unknown or repeated fields, no nulls where a value is
    /// required, numbers only as JSON numbers (so no <c>"NaN"</c> strings).
    /// </summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.Strict,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        AllowDuplicateProperties = false,
        MaxDepth = 16,
    };

    /// <summary>Retry-After of a 503 (broker or Redis unavailable).</summary>
    public static readonly TimeSpan RetryAfterUnavailable = TimeSpan.FromSeconds(5);

    public async Task<IResult> SubmitAsync<TRequest, TEvent>(HttpContext http)
        where TRequest : class, IFeedbackRequest<TEvent>
        where TEvent : class
    {
        var cancellationToken = http.RequestAborted;
        var client = ApiKeyFilter.ClientId(http);
        var settings = options.Value;

        var (body, unreadable) = await JsonBodyReader.ReadAsync<TRequest>(http.Request, new JsonBodyOptions(settings.MaxBodyBytes, Json), cancellationToken);
        if (unreadable is not null)
            return unreadable.ToResult();
        var (raterId, badRater) = RaterIds.Normalize(body!.Value.RaterId);
        if (badRater is not null)
            return badRater.ToResult();
        var request = (TRequest)body.Value.WithRaterId(raterId!);
        if (request.CheckShape() is { } invalid)
            return invalid.ToResult();
        if (CheckIdempotencyKey(http.Request, out var key) is { } badKey)
            return badKey.ToResult();
        try
        {
            if (await clientQuota.TryAcquireAsync(client, settings.RateLimitOf(client), cancellationToken) is { } quotaWait)
                return EdgeError.TooManyRequests("Too many requests",
                    $"Client '{client}' sent more than {settings.RateLimitOf(client)} feedback requests this minute.", quotaWait).ToResult();
        }
        catch (Exception error) when (error is RedisException or TimeoutException)
        {
            logger.LogWarning(error, "Feedback quota store unavailable; answered 503");
            return FeedbackProblem.Unavailable("The feedback store is unavailable; nothing was recorded.", RetryAfterUnavailable).ToResult();
        }

        if (rateLimiter.TryAcquire(client, request.RaterId) is { } wait)
            return EdgeError.TooManyRequests("Too many requests",
                $"Rater '{request.RaterId}' sent more than {settings.RaterRateLimit} requests in a minute.", wait).ToResult();

        var requestHash = Convert.ToHexStringLower(SHA256.HashData(body.Bytes));
        var reserved = false;
        string? claimed = null;
        var accepted = false;
        try
        {
            if (key is not null)
            {
                var existing = await idempotency.TryBeginAsync(client, key, requestHash, cancellationToken);
                if (existing is not null)
                    return Replay(http, key, requestHash, existing);
                reserved = true;
            }

            var submission = new Submission(FeedbackIdFor(client, key, requestHash), client, time.GetUtcNow());
            var margin = settings.ExpiryMarginFor(storage.Value.RolloutTtl);
            var owned = new RequestRollouts(rollouts, client, settings.AcceptFeedbackOnAnonymousRollouts, submission.SubmittedAt - storage.Value.RolloutTtl + margin);
            var (message, claim, invalidAgainstStore) = await request.CheckAsync(owned, submission, cancellationToken);
            if (owned.ForeignGroups is { Count: > 0 } foreign)
            {
                logger.LogWarning("Refused {FeedbackKind} from {ClientId} on {ForeignGroups} generated by another client",
                    typeof(TEvent).Name, client, foreign);
                return EdgeError.Forbidden(
                    $"Group(s) {string.Join(", ", foreign.Select(g => $"'{g}'"))} were generated for another client application; " +
                    "a group takes feedback only from the client that generated it.").ToResult();
            }

            if (owned.Expiring is { Count: > 0 } expiring)
                return FeedbackProblem.Invalid(
                    $"Rollout(s) {string.Join(", ", expiring.Select(r => $"{r.RolloutId} (served {r.CreatedAt:u})"))} expire within {margin} " +
                    $"(rollouts are kept {storage.Value.RolloutTtl}); feedback must arrive earlier, so the reward service can still read them.",
                    new Dictionary<string, object?> { ["expiring_rollout_ids"] = expiring.Select(r => r.RolloutId).ToList() }).ToResult();

            if (invalidAgainstStore is not null)
                return invalidAgainstStore.ToResult();

            if (claim is not null)
            {
                if (await claims.TryClaimAsync(claim.Key, submission.FeedbackId.ToString(), storage.Value.RolloutTtl, cancellationToken))
                    claimed = claim.Key;
                else if (await claims.GetAsync(claim.Key, cancellationToken) is var holder && holder != submission.FeedbackId.ToString())
                {
                    return EdgeError.Conflict(
                        $"{claim.Conflict} (feedback {holder ?? "unknown"}); it counts once.",
                        new Dictionary<string, object?> { ["existing_feedback_id"] = holder }).ToResult();
                }
                // else: the claim is this request's own, from an earlier try whose outcome was not recorded (same
                // Idempotency-Key and body, so the same feedback id): publish again, the reward service dedupes it.
            }

            if (await PublishAsync(message!, submission, http, settings.PublishTimeout) is { } unavailable)
                return unavailable.ToResult();
            accepted = true;

            var response = JsonSerializer.Serialize(new FeedbackAccepted(submission.FeedbackId, "accepted"), Json);
            if (key is not null)
                await RecordOutcomeAsync(client, key, new IdempotencyRecord(requestHash, StatusCodes.Status202Accepted, response));
            logger.LogInformation("Accepted {FeedbackKind} {FeedbackId} from {ClientId} rater {RaterId}",
                typeof(TEvent).Name, submission.FeedbackId, client, request.RaterId);
            return Results.Content(response, "application/json", Encoding.UTF8, StatusCodes.Status202Accepted);
        }
        catch (Exception error) when (error is RedisException or TimeoutException)
        {
            logger.LogWarning(error, "Feedback store unavailable; answered 503");
            return FeedbackProblem.Unavailable("The feedback store is unavailable; nothing was recorded.", RetryAfterUnavailable).ToResult();
        }
        finally
        {
            if (!accepted)
                await UndoAsync(client, reserved ? key : null, claimed);
        }
    }

    /// <summary>
    /// Null once the broker confirmed the message; a 503 when it failed or did not confirm in time. Ratings go out by
    /// group commit (<see cref="RatingGroupCommit"/>) unless <see cref="FeedbackOptions.RatingBatchLimit"/> is 0.
    /// </summary>
    async Task<EdgeError?> PublishAsync<TEvent>(TEvent message, Submission submission, HttpContext http, TimeSpan timeout)
        where TEvent : class
    {
        var correlationId = CorrelationId.Get(http);
        var grouped = message is RatingSubmitted && options.Value.RatingBatchLimit > 0;
        var published = grouped ? nameof(RatingsSubmitted) : typeof(TEvent).Name;
        try
        {
            if (grouped)
                await ratingGroupCommit.PublishAsync((message as RatingSubmitted)!, correlationId, timeout, http.RequestAborted);
            else
                await PublishAloneAsync(message, submission, correlationId, http.RequestAborted, timeout);
            return null;
        }
        catch (MessageReturnedException error) when (!http.RequestAborted.IsCancellationRequested)
        {
            logger.LogError(error, "The broker returned {FeedbackKind} {FeedbackId} as unroutable (no queue bound to its exchange); answered 503",
                published, submission.FeedbackId);
            return FeedbackProblem.Unavailable(
                $"No consumer queue is bound for {published} on the message broker, so the feedback could not be delivered; nothing was accepted. Retry later.",
                RetryAfterUnavailable);
        }
        catch (Exception error) when (!http.RequestAborted.IsCancellationRequested)
        {
            logger.LogWarning(error, "Publishing {FeedbackKind} {FeedbackId} failed or was not confirmed within {Timeout}; answered 503",
                published, submission.FeedbackId, timeout);
            return FeedbackProblem.Unavailable(
                $"The message broker did not confirm the feedback within {timeout.TotalSeconds:0.###} s; nothing was accepted. Retry with the same request.",
                RetryAfterUnavailable);
        }
    }

    async Task PublishAloneAsync<TEvent>(TEvent message, Submission submission, Guid correlationId, CancellationToken aborted, TimeSpan timeout)
        where TEvent : class
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        deadline.CancelAfter(timeout);
        // WaitAsync bounds the wait even if the transport ignores the token while it reconnects.
        // Mandatory: with no queue bound to the event's exchange (reward not deployed yet, a renamed queue) RabbitMQ
        // returns the message instead of confirming it, and the publish fails here instead of dropping it after a 202.
        await publisher.Publish(message, context =>
            {
                context.MessageId = submission.FeedbackId;
                context.CorrelationId = correlationId;
                context.Mandatory = true;
            }, deadline.Token)
            .WaitAsync(timeout, aborted);
    }

    static IResult Replay(HttpContext http, string key, string requestHash, IdempotencyRecord existing)
    {
        if (!string.Equals(existing.RequestHash, requestHash, StringComparison.OrdinalIgnoreCase))
            return EdgeError.Conflict($"{IdempotencyKeyHeader} '{key}' was already used with a different body.").ToResult();
        if (!existing.IsCompleted)
            return (EdgeError.Conflict($"A request with {IdempotencyKeyHeader} '{key}' is still in progress.") with { RetryAfter = TimeSpan.FromSeconds(1) })
                .ToResult();
        http.Response.Headers[ReplayedHeader] = "true";
        return Results.Content(existing.ResponseBody, "application/json", Encoding.UTF8, existing.StatusCode);
    }

    /// <summary>Optional header: 1 to <see cref="MaxIdempotencyKeyLength"/> visible ASCII characters, given once.</summary>
    static EdgeError? CheckIdempotencyKey(HttpRequest request, out string? key)
    {
        key = null;
        var values = request.Headers[IdempotencyKeyHeader];
        if (values.Count == 0)
            return null;
        var value = values.Count == 1 ? values[0] : null;
        if (string.IsNullOrEmpty(value) || value.Length > MaxIdempotencyKeyLength || !value.All(c => c is > ' ' and <= '~'))
            return EdgeError.BadRequest(
                $"The {IdempotencyKeyHeader} header must be given once, as 1 to {MaxIdempotencyKeyLength} visible ASCII characters.");
        key = value;
        return null;
    }

    /// <summary>
    /// With an Idempotency-Key the id is derived from (client, key, body), so a retry after a 503 whose publish did reach
    /// the broker after all carries the same FeedbackId and MessageId, and consumers absorb the duplicate.
    /// </summary>
    static Guid FeedbackIdFor(string client, string? key, string requestHash)
    {
        if (key is null)
            return Guid.CreateVersion7();
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{client}\n{key}\n{requestHash}"), hash);
        var bytes = hash[..16];
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80); // RFC 9562 version 8 (custom)
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC 9562 variant
        return new Guid(bytes, bigEndian: true);
    }

    async Task RecordOutcomeAsync(string client, string key, IdempotencyRecord record)
    {
        try
        {
            await idempotency.CompleteAsync(client, key, record, CancellationToken.None);
        }
        catch (Exception error) when (error is RedisException or TimeoutException)
        {
            // The feedback is published; a retry with this key gets 409 (in progress) until the reservation's lease
            // (Storage:IdempotencyLease) ends, then runs again with the same feedback id, which consumers dedupe.
            logger.LogError(error, "Could not record the outcome of {IdempotencyKey} for {ClientId}", key, client);
        }
    }

    async Task UndoAsync(string client, string? reservedKey, string? claimKey)
    {
        try
        {
            if (claimKey is not null)
                await claims.ReleaseAsync(claimKey, CancellationToken.None);
            if (reservedKey is not null)
                await idempotency.AbandonAsync(client, reservedKey, CancellationToken.None);
        }
        catch (Exception error) when (error is RedisException or TimeoutException)
        {
            logger.LogError(error, "Could not release {ClaimKey} / {IdempotencyKey} of {ClientId}; they expire with their TTL",
                claimKey, reservedKey, client);
        }
    }
}
