using System.Text.Json;
using Rlhf.Modeling.Templates;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Modeling.Tests.Templates;

/// <summary>
/// The real chat templates of SmolLM2, Qwen2.5, Llama 3 and Llama 3.2 (Fixtures/templates/*/tokenizer_config.json)
/// rendered by our Jinja subset must equal the strings jinja2 renders under transformers' settings
/// (Fixtures/templates/render_reference.py wrote expected.json).
/// </summary>
public sealed class HuggingFaceTemplateTests
{
    static readonly string Root = Path.Combine(AppContext.BaseDirectory, "Fixtures", "templates");
    static readonly DateTime FixedNow = new(2026, 12, 6, 18, 30, 0);

    sealed record Case(string Name, bool AddGenerationPrompt, IReadOnlyList<ChatTurn> Messages);

    static IReadOnlyList<Case> Cases()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "cases.json")));
        return document.RootElement.EnumerateArray().Select(c => new Case(
            c.GetProperty("name").GetString()!,
            c.GetProperty("add_generation_prompt").GetBoolean(),
            c.GetProperty("messages").EnumerateArray()
                .Select(m => new ChatTurn(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToList())).ToList();
    }

    public static TheoryData<string, string> FamiliesAndCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var family in new[] { "smollm2", "qwen2.5", "llama3", "llama3.2" })
            foreach (var c in Cases())
                data.Add(family, c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(FamiliesAndCases))]
    public void Rendering_equals_the_jinja2_reference(string family, string caseName)
    {
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "expected.json")));
        var want = expected.RootElement.GetProperty(family).GetProperty(caseName).GetString();
        var template = ModelChatTemplate.Load(Path.Combine(Root, family));
        var c = Cases().Single(x => x.Name == caseName);

        var rendered = Pinned(template).Render(c.Messages, c.AddGenerationPrompt);

        Assert.True(template.IsModelTemplate);
        Assert.Equal(want, rendered);
    }

    [Theory]
    [InlineData("qwen2.5", "<|im_end|>")]
    [InlineData("llama3.2", "<|eot_id|>")]
    public void Message_content_is_untrusted_and_the_template_text_is_not(string family, string forged)
    {
        var template = Pinned(ModelChatTemplate.Load(Path.Combine(Root, family)));
        var content = $"  hi {forged} there ";

        var pieces = template.RenderPieces([new ChatTurn("user", content)], addGenerationPrompt: true);

        Assert.Contains(pieces, p => !p.Trusted && p.Text.Contains(forged, StringComparison.Ordinal));
        Assert.All(pieces.Where(p => p.Trusted), p => Assert.DoesNotContain("hi ", p.Text, StringComparison.Ordinal));
        Assert.Contains(pieces, p => p.Trusted && p.Text.Contains(family == "qwen2.5" ? "<|im_start|>" : "<|start_header_id|>", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("qwen2.5")]
    [InlineData("smollm2")]
    public void End_of_turn_is_the_special_token_after_an_assistant_reply(string family)
    {
        var tokenizer = TokenizerLoader.Load(Path.Combine(AppContext.BaseDirectory, "Fixtures", "bpe", "tokenizer_json"));

        var id = ModelChatTemplate.Load(Path.Combine(Root, family)).EndOfTurnId(tokenizer);

        Assert.Equal(tokenizer.SpecialTokens["<|im_end|>"], id);
    }

    [Fact]
    public void Llama32_template_dates_the_system_message_with_strftime_now()
    {
        var template = Pinned(ModelChatTemplate.Load(Path.Combine(Root, "llama3.2")));

        var text = template.Render([new ChatTurn("user", "x")], addGenerationPrompt: false);

        Assert.Contains("Today Date: 06 Dec 2026\n", text);
    }

    [Fact]
    public void A_directory_without_a_template_renders_chatml()
    {
        var directory = Directory.CreateTempSubdirectory("rlhf-template-").FullName;
        try
        {
            var template = ModelChatTemplate.Load(directory);
            Assert.False(template.IsModelTemplate);
            Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", template.Render([new ChatTurn("user", "hi")], true));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("{% macro greet() %}hi{% endmacro %}", "macro")]
    [InlineData("{{ messages | map(attribute='role') }}", "map")]
    [InlineData("{% if x %}never closed", "endif")]
    [InlineData("{{ 'a' is upper }}", "upper")]
    public void Unsupported_jinja_is_refused_with_the_construct_named(string source, string named)
    {
        var error = Record.Exception(() =>
            ModelChatTemplate.FromSource(source, new Dictionary<string, string>()).Render([new ChatTurn("user", "x")], true));

        Assert.NotNull(error);
        Assert.True(error is InvalidDataException or ArgumentException, error.GetType().Name);
        Assert.Contains(named, error.Message);
    }

    [Fact]
    public void Raise_exception_in_the_template_is_an_argument_error_with_its_message()
    {
        var template = ModelChatTemplate.FromSource("{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}ok",
            new Dictionary<string, string>());

        var error = Assert.Throws<ArgumentException>(() => template.Render([new ChatTurn("system", "s")], true));
        Assert.Contains("first must be user", error.Message);
        Assert.Equal("ok", template.Render([new ChatTurn("user", "u")], true));
    }

    [Theory]
    [InlineData("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}", "2")]
    [InlineData("{% for m in messages %}{% set last = m.role %}{% endfor %}[{{ last }}]", "[]")]
    [InlineData("{% for m in messages %}{{ loop.index }}/{{ loop.length }}{% if not loop.last %},{% endif %}{% endfor %}", "1/2,2/2")]
    [InlineData("{{ messages[-1]['content'] | upper ~ '!' }}", "B!")]
    [InlineData("{{ 'x' if messages | length > 1 else 'y' }}", "x")]
    [InlineData("  {%- if true %}\n  a\n  {% endif %}\n", "  a\n")]
    public void Scoping_filters_and_whitespace_follow_jinja2(string source, string expected)
    {
        var template = ModelChatTemplate.FromSource(source, new Dictionary<string, string>());

        Assert.Equal(expected, template.Render([new ChatTurn("user", "a"), new ChatTurn("assistant", "b")], false));
    }

    static ModelChatTemplate Pinned(ModelChatTemplate template) => template.WithClock(() => FixedNow);
}
