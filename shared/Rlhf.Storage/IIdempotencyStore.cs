namespace Rlhf.Storage;

/// <summary>The remembered outcome of a request made with an <c>Idempotency-Key</c>.</summary>
/// <param name="RequestHash">SHA-256 of the request body: the same key with another body is a conflict (409).</param>
/// <param name="StatusCode">HTTP status of the first response; null while the first request is still in progress.</param>
/// <param name="ResponseBody">Body of the first response (JSON), replayed to retries.</param>
public sealed record IdempotencyRecord(string RequestHash, int? StatusCode, string? ResponseBody)
{
    public bool IsCompleted => StatusCode is not null;
}

/// <summary>
/// Idempotency keys of client requests, scoped per client (API key name), with a TTL
/// (<see cref="StorageOptions.IdempotencyTtl"/>). Begin reserves the key atomically (SET NX); Complete stores the
/// response; Abandon frees the key when the request failed before any effect, so a retry can run again.
/// </summary>
public interface IIdempotencyStore
{
    /// <summary>Null when the key was free and is now reserved by this caller; otherwise the existing record.</summary>
    Task<IdempotencyRecord?> TryBeginAsync(string client, string key, string requestHash, CancellationToken cancellationToken = default);

    Task CompleteAsync(string client, string key, IdempotencyRecord record, CancellationToken cancellationToken = default);

    Task AbandonAsync(string client, string key, CancellationToken cancellationToken = default);
}
