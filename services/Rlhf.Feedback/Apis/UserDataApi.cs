using Rlhf.Feedback.Privacy;
using Rlhf.Hosting.Authentication;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// <c>DELETE /v1/users/{user_id}</c> (role <c>admin</c>, <c>X-Operator-Key</c>): deletes the user's data everywhere
/// (<see cref="UserDataDeletion"/>) and answers 200 with the <see cref="DeletionReport"/>; 400 for an id that cannot be
/// a user, 503 when a store or the broker fails part-way (nothing is rolled back; the same call finishes the job).
/// </summary>
public static class UserDataApi
{
    /// <summary>The longest user id taken (generation refuses longer <c>user</c> fields anyway).</summary>
    public const int MaxUserIdLength = 512;

    public static void MapUserDataEndpoints(this IEndpointRouteBuilder app) =>
        app.MapDelete("/v1/users/{user_id}", DeleteAsync).RequireAdmin().WithTags("Privacy");

    static async Task<IResult> DeleteAsync(string user_id, UserDataDeletion deletion, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(user_id) || user_id.Length > MaxUserIdLength || user_id.Any(char.IsControl))
            return EdgeError.BadRequest($"user_id must be 1 to {MaxUserIdLength} characters without control characters.", "user_id").ToResult();
        try
        {
            return TypedResults.Ok(await deletion.DeleteAsync(user_id, cancellationToken));
        }
        catch (Exception error) when (!cancellationToken.IsCancellationRequested)
        {
            // Redis or the broker failed part-way: every step is idempotent, so the same call finishes the job.
            loggers.CreateLogger(typeof(UserDataApi)).LogWarning(error, "Deleting a user's data failed part-way; answered 503");
            return EdgeError.Unavailable("User data not fully deleted",
                "A store or the message broker did not answer; part of the data may be deleted. Send the same request again.", TimeSpan.FromSeconds(5)).ToResult();
        }
    }
}
