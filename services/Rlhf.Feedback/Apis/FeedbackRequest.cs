using Rlhf.Storage;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>Identity of one accepted piece of feedback, fixed before validation so the event can be built from it.</summary>
/// <param name="FeedbackId">Id of the event (and its MessageId).</param>
/// <param name="ClientId">Name of the API key that sent it.</param>
/// <param name="SubmittedAt">When the service accepted it (UTC).</param>
public sealed record Submission(Guid FeedbackId, string ClientId, DateTimeOffset SubmittedAt);

/// <summary>A first-writer-wins key that makes a piece of feedback count once, and how to explain a conflict.</summary>
/// <param name="Key">Key in <see cref="IClaimStore"/>, e.g. <c>ranking:{group}:{rater}</c>.</param>
/// <param name="Conflict">What a second submission would repeat, e.g. "Rater 'r' already ranked group 'g'".</param>
public sealed record Claim(string Key, string Conflict);

/// <summary>The outcome of validating a request against the stores: the event to publish, or why not.</summary>
public sealed record Checked<TEvent>(TEvent? Event, Claim? Claim, EdgeError? Problem) where TEvent : class
{
    public static Checked<TEvent> Accept(TEvent message, Claim? claim) => new(message, claim, null);

    public static implicit operator Checked<TEvent>(EdgeError problem) => new(null, null, problem);
}

/// <summary>A feedback request body and its rules; <typeparamref name="TEvent"/> is what it becomes when accepted.</summary>
public interface IFeedbackRequest<TEvent> where TEvent : class
{
    string RaterId { get; }

    /// <summary>The same request with <paramref name="raterId"/> (the normalized id, see <see cref="Identity.RaterIds"/>).</summary>
    IFeedbackRequest<TEvent> WithRaterId(string raterId);

    /// <summary>Problems visible in the body alone (blank or too long values, ranges); null when none.</summary>
    EdgeError? CheckShape();

    /// <summary>Checks the request against the stored rollouts and builds the event.</summary>
    Task<Checked<TEvent>> CheckAsync(IRolloutStore rollouts, Submission submission, CancellationToken cancellationToken);
}

/// <summary>Rules shared by the request types.</summary>
static class Fields
{
    public const int MaxRaterIdLength = Identity.RaterIds.MaxLength;
    public const int MaxGroupIdLength = 256;

    /// <summary>rater_id: not blank, at most <see cref="MaxRaterIdLength"/> characters, no control characters.</summary>
    public static EdgeError? CheckRater(string raterId) => CheckIdentifier("rater_id", raterId, MaxRaterIdLength);

    public static EdgeError? CheckGroup(string groupId) => CheckIdentifier("group_id", groupId, MaxGroupIdLength);

    public static EdgeError? CheckIdentifier(string field, string value, int maxLength)
    {
        if (string.IsNullOrWhiteSpace(value))
            return FeedbackProblem.Invalid($"{field} must not be blank.");
        if (value.Length > maxLength)
            return FeedbackProblem.Invalid($"{field} is {value.Length} characters long; at most {maxLength} are allowed.");
        if (value.Any(char.IsControl))
            return FeedbackProblem.Invalid($"{field} must not contain control characters.");
        return null;
    }

    public static string List(IEnumerable<Guid> ids) => string.Join(", ", ids);

    /// <summary>
    /// One judgement per (group, rater): a ranking, a pairwise choice or a rating of any candidate of the group, so one
    /// rater cannot weigh a group two or three times by switching kinds. Regenerations and edits are follow-up actions
    /// (a thumb down, then "regenerate" or "edit") whose pair spans two answers; they keep their own once-per-rollout
    /// claims, and comments train nothing.
    /// </summary>
    public static Claim Judgement(string groupId, string raterId) =>
        new($"judgement:{groupId}:{raterId}", $"Rater '{raterId}' already judged group '{groupId}' (a ranking, pairwise choice or rating)");
}
