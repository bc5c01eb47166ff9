using Rlhf.Modeling.Tokenization;

namespace Rlhf.Modeling.Tests;

public sealed class ChatTemplateTests
{
    private static readonly ChatTurn[] SystemAndUser = [new("system", "You are helpful."), new("user", "Hi there")];

    [Fact]
    public void ChatMl_renders_system_and_user_with_the_generation_prompt()
    {
        var prompt = ChatTemplate.ChatMl.Render(SystemAndUser, addGenerationPrompt: true);

        Assert.Equal(
            "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
            prompt);
    }

    [Fact]
    public void ChatMl_prompt_has_the_special_ids_at_the_turn_boundaries()
    {
        var tokenizer = new ByteTokenizer();
        var prompt = ChatTemplate.ChatMl.Render(SystemAndUser, addGenerationPrompt: true);

        var ids = tokenizer.Encode(prompt);

        // 258 "system\n"(7) "You are helpful."(16) 259 "\n" 258 "user\n"(5) "Hi there"(8) 259 "\n" 258 "assistant\n"(10)
        Assert.Equal(53, ids.Count);
        Assert.Equal([0, 26, 42], Positions(ids, 258));
        Assert.Equal([24, 40], Positions(ids, 259));
        Assert.Equal("Hi there", tokenizer.Decode(ids.Skip(32).Take(8)));
        Assert.Equal(prompt, tokenizer.Decode(ids));
    }

    [Fact]
    public void ChatMl_prompt_has_the_special_ids_with_a_bpe_tokenizer_too()
    {
        var tokenizer = BpeTokenizer.Load(Path.Combine(AppContext.BaseDirectory, "Fixtures", "bpe", "tokenizer_json"));

        var ids = tokenizer.Encode(ChatTemplate.ChatMl.Render([new("user", "the cat")], addGenerationPrompt: true));

        Assert.Equal([267, 117, 115, 101, 114, 10, 116, 257, 262, 268, 10, 267, 97, 115, 115, 105, 115, 116, 97, 110, 116, 10], ids);
    }

    [Fact]
    public void Without_the_generation_prompt_the_text_ends_after_the_last_turn()
    {
        ChatTurn[] conversation = [new("user", "2+2?"), new("assistant", "4")];

        var text = ChatTemplate.ChatMl.Render(conversation, addGenerationPrompt: false);

        Assert.Equal("<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n", text);
    }

    [Fact]
    public void Llama3_preset_renders_its_headers()
    {
        var prompt = ChatTemplate.Llama3.Render(SystemAndUser, addGenerationPrompt: true);

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            prompt);
        Assert.Equal("<|start_header_id|>assistant<|end_header_id|>\n\n", ChatTemplate.Llama3.GenerationPrompt);
    }

    [Fact]
    public void Default_system_prompt_is_inserted_only_when_the_conversation_has_none()
    {
        var template = ChatTemplate.ChatMl with { DefaultSystemPrompt = "Be brief." };

        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            template.Render([new("user", "Hi")], addGenerationPrompt: true));
        Assert.StartsWith("<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user", template.Render(SystemAndUser, addGenerationPrompt: true));
    }

    [Fact]
    public void Custom_format_substitutes_role_and_keeps_braces_in_content()
    {
        var template = new ChatTemplate { MessageFormat = "[{role}] {content} [/{role}]\n", EndOfTurn = "<|im_end|>" };

        var text = template.Render([new("user", "say {role} and {content}")], addGenerationPrompt: true);

        Assert.Equal("[user] say {role} and {content} [/user]\n[assistant] ", text);
    }

    [Theory]
    [InlineData("tool")]
    [InlineData("User")]
    [InlineData("")]
    public void Unknown_role_is_rejected_by_name(string role)
    {
        var error = Assert.Throws<ArgumentException>(() => ChatTemplate.ChatMl.Render([new("user", "hi"), new(role, "x")], addGenerationPrompt: true));

        Assert.Contains($"'{role}'", error.Message);
    }

    [Fact]
    public void Empty_conversation_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => ChatTemplate.ChatMl.Render([], addGenerationPrompt: true));
    }

    [Fact]
    public void Format_without_exactly_one_content_placeholder_is_rejected()
    {
        var template = new ChatTemplate { MessageFormat = "<|im_start|>{role}\n<|im_end|>\n" };

        Assert.Throws<InvalidOperationException>(() => template.Render(SystemAndUser, addGenerationPrompt: true));
    }

    [Fact]
    public void End_of_turn_resolves_to_the_tokenizers_id()
    {
        var tokenizer = new ByteTokenizer();

        Assert.Equal(259, ChatTemplate.ChatMl.EndOfTurnId(tokenizer));
        Assert.Equal(tokenizer.EosId, ChatTemplate.ChatMl.EndOfTurnId(tokenizer));
        Assert.Throws<InvalidOperationException>(() => ChatTemplate.Llama3.EndOfTurnId(tokenizer));
    }

    private static int[] Positions(IReadOnlyList<int> ids, int id) =>
        [.. ids.Select((value, index) => (value, index)).Where(p => p.value == id).Select(p => p.index)];
}
