using Rlhf.Contracts;
using Rlhf.Testing;
using Rlhf.Learner.Training;
using Rlhf.Modeling.Templates;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Learner.Tests.Units;

/// <summary>Demonstrations to SFT tokens with the byte tokenizer and the ChatML template generation serves with.</summary>
public sealed class DemonstrationTokenizerTests
{
    static readonly ModelChatTemplate Template = ModelChatTemplate.ChatMl;
    static readonly ITextTokenizer Tokenizer = TinyPolicy.Tokenizer;

    static DemonstrationSubmitted Submitted(string answer, params ChatMessage[] messages) =>
        new(Guid.NewGuid(), messages, answer, null, "rater", "client", DateTimeOffset.UnixEpoch);

    [Fact]
    public void The_prompt_is_the_rendered_chat_and_the_response_ends_with_the_end_of_turn_token()
    {
        var tokenized = new DemonstrationTokenizer(Template, Tokenizer, contextLength: 256).Tokenize(Submitted("5", new ChatMessage("user", "2+3?")));

        Assert.Null(tokenized.Problem);
        var prompt = Template.Render([new ChatTurn("user", "2+3?")], addGenerationPrompt: true);
        Assert.Equal(Tokenizer.Encode(prompt), tokenized.Demonstration!.PromptTokenIds);
        Assert.Equal([.. Tokenizer.Encode("5"), Template.EndOfTurnId(Tokenizer)], tokenized.Demonstration.ResponseTokenIds);
    }

    [Fact]
    public void A_demonstration_that_exactly_fits_the_context_is_kept_and_one_token_more_is_not()
    {
        var submitted = Submitted("5", new ChatMessage("user", "2+3?"));
        var fits = new DemonstrationTokenizer(Template, Tokenizer, 256).Tokenize(submitted).Demonstration!;
        var length = fits.PromptTokenIds.Count + fits.ResponseTokenIds.Count;

        Assert.NotNull(new DemonstrationTokenizer(Template, Tokenizer, length).Tokenize(submitted).Demonstration);
        var tooLong = new DemonstrationTokenizer(Template, Tokenizer, length - 1).Tokenize(submitted);
        Assert.Null(tooLong.Demonstration);
        Assert.Equal($"{length} tokens exceed the model's context of {length - 1}", tooLong.Problem);
    }

    [Fact]
    public void No_messages_no_answer_or_an_unknown_role_is_a_problem_not_an_exception()
    {
        var tokenizer = new DemonstrationTokenizer(Template, Tokenizer, 256);

        Assert.Equal("no messages", tokenizer.Tokenize(Submitted("5")).Problem);
        Assert.Equal("no ideal response", tokenizer.Tokenize(Submitted("", new ChatMessage("user", "2+3?"))).Problem);
        var robot = tokenizer.Tokenize(Submitted("Hello", new ChatMessage("robot", "Hi")));
        Assert.Null(robot.Demonstration);
        Assert.Contains("robot", robot.Problem);
    }
}
