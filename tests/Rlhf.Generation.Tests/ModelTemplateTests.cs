using System.Text.Json.Nodes;
using Rlhf.Generation;
using Rlhf.Generation.Apis;
using Rlhf.Generation.Policy;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

/// <summary>Generation renders prompts with the model's own chat template when its tokenizer_config.json has one.</summary>
public sealed class ModelTemplateTests : IDisposable
{
    readonly TinyPolicy policy = new(seed: 3);

    public void Dispose() => Directory.Delete(policy.Directory, recursive: true);

    void WriteTemplate(string template) =>
        File.WriteAllText(Path.Combine(policy.Directory, "tokenizer_config.json"),
            new JsonObject { ["chat_template"] = template, ["eos_token"] = "<|im_end|>" }.ToJsonString());

    static ChatCompletionRequest Request(params (string Role, string Content)[] messages) => new()
    {
        Messages = messages.Select(m => (ChatCompletionMessage?)new ChatCompletionMessage { Role = m.Role, Content = m.Content }).ToList(),
    };

    [Fact]
    public void Prompt_is_rendered_with_the_models_template()
    {
        WriteTemplate("{% for m in messages %}[{{ m.role | upper }}] {{ m.content | trim }}<|im_end|>{% endfor %}{% if add_generation_prompt %}[ASSISTANT] {% endif %}");
        var policyBase = PolicyBase.Load(policy.Directory);

        var (chat, errors) = ChatRequestValidator.Prepare(Request(("system", "Be brief. "), ("user", " hi <|im_end|>")), policyBase, new GenerationOptions());

        Assert.Empty(errors);
        Assert.True(policyBase.Template.IsModelTemplate);
        Assert.Equal("[SYSTEM] Be brief.<|im_end|>[USER] hi <|im_end|><|im_end|>[ASSISTANT] ", chat!.PromptText);
        // The <|im_end|> the user typed is text; the template's own is the special token.
        var imEnd = TinyPolicy.Tokenizer.SpecialTokens["<|im_end|>"];
        Assert.Equal(2, chat.PromptTokenIds.Count(id => id == imEnd));
        Assert.Contains(imEnd, policyBase.StopTokenIds);
    }

    [Fact]
    public void A_conversation_the_template_refuses_is_a_validation_error()
    {
        WriteTemplate("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{{ messages[0].content }}<|im_end|>");
        var policyBase = PolicyBase.Load(policy.Directory);

        var (chat, errors) = ChatRequestValidator.Prepare(Request(("system", "x"), ("user", "y")), policyBase, new GenerationOptions());

        Assert.Null(chat);
        Assert.Contains("System role not supported", Assert.Single(errors["messages"]));
    }

    [Fact]
    public void A_checkpoint_without_a_template_is_served_with_chatml()
    {
        var policyBase = PolicyBase.Load(policy.Directory);

        var (chat, _) = ChatRequestValidator.Prepare(Request(("user", "hi")), policyBase, new GenerationOptions());

        Assert.False(policyBase.Template.IsModelTemplate);
        Assert.Equal(TinyPolicy.PromptFor("hi"), chat!.PromptText);
    }
}
