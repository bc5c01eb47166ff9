using Rlhf.Contracts;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Cli.Archive;

/// <summary>
/// The conversation a rollout answered, read back from its prompt text: rollouts store the prompt after the ChatML
/// template (<see cref="ChatTemplate.ChatMl"/>) was applied, while TRL's conversational formats want the messages.
/// </summary>
public static class ChatMlConversation
{
    const string Start = "<|im_start|>";
    const string End = "<|im_end|>\n";

    /// <summary>The messages of a ChatML prompt that ends with the assistant's generation prompt; null when it is not one.</summary>
    public static IReadOnlyList<ChatMessage>? Parse(string promptText)
    {
        var generationPrompt = ChatTemplate.ChatMl.GenerationPrompt;
        if (!promptText.StartsWith(Start, StringComparison.Ordinal) || !promptText.EndsWith(generationPrompt, StringComparison.Ordinal))
            return null;
        var messages = new List<ChatMessage>();
        foreach (var turn in promptText[..^generationPrompt.Length].Split(Start, StringSplitOptions.RemoveEmptyEntries))
        {
            var newline = turn.IndexOf('\n', StringComparison.Ordinal);
            if (newline <= 0 || !turn.EndsWith(End, StringComparison.Ordinal))
                return null;
            messages.Add(new ChatMessage(turn[..newline], turn[(newline + 1)..^End.Length]));
        }

        return messages.Count > 0 ? messages : null;
    }
}
