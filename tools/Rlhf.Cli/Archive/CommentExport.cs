using System.Text.Encodings.Web;
using System.Text.Json;
using Rlhf.Archive;
using Rlhf.Contracts;

namespace Rlhf.Cli.Archive;

/// <summary>
/// <c>rlhf export comments</c>: users' comments and flags from an event log, each joined with the answer it is about:
/// <c>{"feedback_id", "rollout_id", "group_id", "comment", "flags", "rater_id", "client_id", "policy_version",
/// "submitted_at", "prompt": [messages], "response"}</c> (prompt and response null when the log lacks the rollout).
/// <c>--flag</c> and <c>--contains</c> select, as the live search does.
/// </summary>
public static class CommentExport
{
    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    sealed record Line(Guid FeedbackId, Guid RolloutId, string GroupId, string? Comment, IReadOnlyList<string> Flags, string RaterId, string ClientId,
        long PolicyVersion, DateTimeOffset SubmittedAt, IReadOnlyList<ChatMessage>? Prompt, string? Response);

    public static int Run(string eventsPath, EventFilter filter, string? flag, string? contains, string? outPath, TextWriter output, TextWriter error)
    {
        if (flag is not null && !CommentFlags.All.Contains(flag, StringComparer.Ordinal))
        {
            error.WriteLine($"error: --flag \"{flag}\" is not one of {string.Join(", ", CommentFlags.All)}");
            return 1;
        }

        return ArchiveOptions.Execute(outPath, output, error, destination =>
        {
            var selected = filter.WithErasures(eventsPath) with { Types = new HashSet<string> { nameof(CommentSubmitted) } };
            var answers = new Dictionary<Guid, (IReadOnlyList<ChatMessage>? Prompt, string Response)>();
            var comments = new List<CommentSubmitted>();
            foreach (var e in EventLogReader.Read(eventsPath))
            {
                if (e.Type == nameof(RolloutGenerated) && e.ReferencedRollouts().FirstOrDefault() is var id && id != Guid.Empty)
                    answers[id] = (ChatMlConversation.Parse(e.GetString("promptText") ?? ""), e.GetString("responseText") ?? "");
                else if (selected.Matches(e))
                    comments.Add(e.MessageAs<CommentSubmitted>());
            }

            var query = new Rlhf.Storage.CommentQuery(contains, flag);
            var lines = 0;
            foreach (var comment in comments.Where(c => Rlhf.Storage.CommentMatch.Matches(c, query)))
            {
                var answer = answers.GetValueOrDefault(comment.RolloutId);
                destination.WriteLine(JsonSerializer.Serialize(new Line(comment.FeedbackId, comment.RolloutId, comment.GroupId, comment.Comment, comment.Flags,
                    comment.RaterId, comment.ClientId, comment.PolicyVersion, comment.SubmittedAt, answer.Prompt, answer.Response), Json));
                lines++;
            }

            destination.Flush();
            error.WriteLine($"exported {lines} of {comments.Count} comments");
            return 0;
        });
    }
}
