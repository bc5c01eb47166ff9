using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>The rules a conversation in a request body follows (demonstrations, edits).</summary>
static class ConversationRules
{
    static readonly string[] Roles = ["system", "user", "assistant"];

    /// <summary>At least one message, each an object with a known role, at least one user message.</summary>
    public static EdgeError? Check(IReadOnlyList<DemonstrationMessage> messages)
    {
        if (messages.Count == 0)
            return FeedbackProblem.Invalid("messages must hold at least one message.");
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i] is null)
                return EdgeError.BadRequest($"Field $.messages[{i}] must be an object with role and content, not null.");
            if (!Roles.Contains(messages[i].Role, StringComparer.Ordinal))
                return FeedbackProblem.Invalid($"messages[{i}].role \"{messages[i].Role}\" is not one of {string.Join(", ", Roles)}.");
        }

        return messages.Any(m => m.Role == "user") ? null : FeedbackProblem.Invalid("messages must contain at least one user message.");
    }
}
