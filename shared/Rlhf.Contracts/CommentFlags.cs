namespace Rlhf.Contracts;

/// <summary>The flags a <see cref="CommentSubmitted"/> may carry.</summary>
public static class CommentFlags
{
    public static readonly IReadOnlyList<string> All = ["unsafe", "wrong", "off_topic", "unhelpful", "other"];
}
