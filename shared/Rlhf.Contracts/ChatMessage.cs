namespace Rlhf.Contracts;

/// <summary>One message of a chat, OpenAI style.</summary>
/// <param name="Role"><c>system</c>, <c>user</c> or <c>assistant</c>.</param>
/// <param name="Content">Message text.</param>
public sealed record ChatMessage(string Role, string Content);
