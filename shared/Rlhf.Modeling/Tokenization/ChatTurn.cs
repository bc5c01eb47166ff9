namespace Rlhf.Modeling.Tokenization;

/// <summary>One OpenAI-style chat message: role is <c>system</c>, <c>user</c> or <c>assistant</c>.</summary>
public sealed record ChatTurn(string Role, string Content);
