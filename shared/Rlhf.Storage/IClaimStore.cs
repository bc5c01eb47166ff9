namespace Rlhf.Storage;

/// <summary>
/// First-writer-wins keys (Redis SET NX with TTL). Used for processed message ids of idempotent consumers,
/// "one ranking per (group, rater)", and "a rollout is scored once per RM version".
/// </summary>
public interface IClaimStore
{
    /// <summary>True when this call created the key; false when it already existed (then nothing changes).</summary>
    Task<bool> TryClaimAsync(string key, string value, TimeSpan? ttl, CancellationToken cancellationToken = default);

    /// <summary>The value stored under the key, or null.</summary>
    Task<string?> GetAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Removes a claim (when the effect it guarded failed and must be retried).</summary>
    Task ReleaseAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Removes every claim whose key <paramref name="match"/> selects (a full scan: for a user's deletion); returns how many.</summary>
    Task<int> DeleteWhereAsync(Func<string, bool> match, CancellationToken cancellationToken = default);
}
