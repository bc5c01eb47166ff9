using Rlhf.Contracts;
using Rlhf.Modeling.Templates;
using Rlhf.Modeling.Tokenization;
using Rlhf.Training;

namespace Rlhf.Learner.Training;

/// <summary>A demonstration as SFT trains on it, or why it cannot be.</summary>
public sealed record TokenizedDemonstration(Demonstration? Demonstration, string? Problem);

/// <summary>
/// Turns a submitted demonstration into SFT tokens the way generation serves prompts: the prompt is the chat rendered
/// with the assistant header, the response is the ideal answer plus the end-of-turn token, and both must fit the
/// model's context.
/// </summary>
public sealed class DemonstrationTokenizer(ModelChatTemplate template, ITextTokenizer tokenizer, int contextLength)
{
    public TokenizedDemonstration Tokenize(DemonstrationSubmitted submitted)
    {
        if (submitted.Messages is not { Count: > 0 })
            return Invalid("no messages");
        if (string.IsNullOrEmpty(submitted.IdealResponse))
            return Invalid("no ideal response");
        string prompt;
        try
        {
            prompt = template.Render(submitted.Messages.Select(m => new ChatTurn(m.Role, m.Content)).ToList(), addGenerationPrompt: true);
        }
        catch (ArgumentException error)
        {
            return Invalid(error.Message);
        }

        var promptIds = tokenizer.Encode(prompt);
        var responseIds = tokenizer.Encode(submitted.IdealResponse).Append(template.EndOfTurnId(tokenizer)).ToList();
        var tokens = promptIds.Count + responseIds.Count;
        return tokens > contextLength
            ? Invalid($"{tokens} tokens exceed the model's context of {contextLength}")
            : new TokenizedDemonstration(new Demonstration(promptIds, responseIds), null);
    }

    static TokenizedDemonstration Invalid(string problem) => new(null, problem);
}
