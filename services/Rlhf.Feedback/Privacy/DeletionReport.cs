using System.Text.Json.Serialization;

namespace Rlhf.Feedback.Privacy;

/// <summary>One store's line of a <see cref="DeletionReport"/>.</summary>
/// <param name="Store">The store, as the README's Redis layout names it.</param>
/// <param name="Removed">Records this call removed or tombstoned; null where the store is told over the bus and counts on its own.</param>
/// <param name="Action">What happened to them: <c>deleted</c>, <c>tombstoned</c>, <c>skipped by readers</c> or <c>notified</c>.</param>
public sealed record StoreDeletion(
    [property: JsonPropertyName("store")] string Store,
    [property: JsonPropertyName("removed")] long? Removed,
    [property: JsonPropertyName("action")] string Action);

/// <summary>The answer of <c>DELETE /v1/users/{user_id}</c>: the same shape every time, zero counts once nothing is left.</summary>
public sealed record DeletionReport(
    [property: JsonPropertyName("user_id")] string UserId,
    [property: JsonPropertyName("deleted_at")] DateTimeOffset DeletedAt,
    [property: JsonPropertyName("rater_id")] string? RaterId,
    [property: JsonPropertyName("groups")] int Groups,
    [property: JsonPropertyName("stores")] IReadOnlyList<StoreDeletion> Stores);
