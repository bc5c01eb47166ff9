using System.Text.Json;
using Rlhf.Contracts;
using static Rlhf.Cli.Tests.EventLogFixture;

namespace Rlhf.Cli.Tests;

/// <summary>
/// <c>rlhf export preferences --format conversational</c> and <c>rlhf export kto</c>: each line is checked against TRL's
/// documented conversational types (preference: exactly prompt, chosen, rejected as lists of {role, content}; unpaired
/// preference: exactly prompt, completion, label), on a log of n = 1 answers, thumbs, stars, a regeneration and an edit.
/// </summary>
public sealed class ConversationalExportTests : IDisposable
{
    static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);
    const string Prompt = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n";
    static readonly (string Role, string Content)[] Conversation = [("system", "Be brief."), ("user", "What is 2 + 2?")];

    readonly string path = Path.Combine(Path.GetTempPath(), $"rlhf-conversational-{Guid.NewGuid():N}.jsonl");
    readonly List<string> lines = [];
    readonly Guid commented;

    public ConversationalExportTests()
    {
        var wrong = Rollout("g1", "2 + 2 = 5.");
        var right = Rollout("g2", "2 + 2 = 4.");
        var rambling = Rollout("g3", "Hmm, I think 2 + 2 = 4.");
        var other = Rollout("g4", "x", prompt: "plain text, not ChatML");
        foreach (var rollout in new[] { wrong, right, rambling, other })
            Add(rollout);
        Add(Rating(wrong, RatingScale.Thumbs, 0));
        Add(Rating(right, RatingScale.Thumbs, 1));
        Add(Rating(rambling, RatingScale.Stars, 3)); // neither good nor bad: no KTO line
        Add(Rating(rambling, RatingScale.Stars, 4));
        Add(Rating(other, RatingScale.Thumbs, 1)); // prompt is not ChatML: skipped
        Add(new RegenerationSubmitted(Guid.NewGuid(), wrong.RolloutId, right.RolloutId, right.GroupId, wrong.GroupId, "r", "app", DateTimeOffset.UtcNow));
        Add(new DemonstrationSubmitted(Guid.NewGuid(), [new ChatMessage("system", "Be brief."), new ChatMessage("user", "What is 2 + 2?")], "4.", rambling.GroupId,
            "r", "app", DateTimeOffset.UtcNow, EditedRolloutId: rambling.RolloutId));
        Add(new DemonstrationSubmitted(Guid.NewGuid(), [new ChatMessage("user", "Hi")], "Hello.", null, "r", "app", DateTimeOffset.UtcNow));
        Add(new CommentSubmitted(Guid.NewGuid(), wrong.RolloutId, wrong.GroupId, "five is wrong", ["wrong"], "r", "app", DateTimeOffset.UtcNow, 0));
        Add(new CommentSubmitted(Guid.NewGuid(), right.RolloutId, right.GroupId, null, ["unsafe", "other"], "r", "app", DateTimeOffset.UtcNow, 0));
        commented = wrong.RolloutId;
        File.WriteAllLines(path, lines);
    }

    public void Dispose() => File.Delete(path);

    static RolloutGenerated Rollout(string group, string response, string prompt = Prompt) => new(Guid.NewGuid(), group, 0, 1, 0, prompt, [1, 2], response, [3],
        [-0.5f], "stop", new SamplingParameters(1, 1, 0, 16, null, []), "app", "user-1", DateTimeOffset.UtcNow);

    static RatingSubmitted Rating(RolloutGenerated rollout, RatingScale scale, int value) =>
        new(Guid.NewGuid(), rollout.RolloutId, rollout.GroupId, scale, value, $"r-{Guid.NewGuid():N}", "app", DateTimeOffset.UtcNow, 0);

    void Add<T>(T message) => lines.Add(
        $$"""{"type":"{{typeof(T).Name}}","messageId":"{{Guid.NewGuid()}}","correlationId":null,"sentTime":"{{Start.AddSeconds(lines.Count).UtcDateTime:O}}","message":{{JsonSerializer.Serialize(message, Web)}}}""");

    /// <summary>A list of {role, content} messages, nothing else in each, roles TRL knows; returned as pairs.</summary>
    static List<(string Role, string Content)> Messages(JsonElement list)
    {
        Assert.Equal(JsonValueKind.Array, list.ValueKind);
        var messages = list.EnumerateArray().Select(m =>
        {
            Assert.Equal(["content", "role"], m.EnumerateObject().Select(p => p.Name).Order());
            return (m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!);
        }).ToList();
        Assert.NotEmpty(messages);
        Assert.All(messages, m => Assert.Contains(m.Item1, new[] { "system", "user", "assistant" }));
        return messages;
    }

    static string OneAssistantMessage(JsonElement list) => Assert.Single(Messages(list), m => m.Role == "assistant").Content;

    [Fact]
    public void Conversational_preferences_follow_trls_schema_from_regenerations_and_edits()
    {
        var (code, output, error) = RunCli("export", "preferences", "--events", path, "--format", "conversational");

        Assert.True(code == 0, error);
        var pairs = output.Select(l => JsonDocument.Parse(l).RootElement).Select(p =>
        {
            Assert.Equal(["chosen", "prompt", "rejected"], p.EnumerateObject().Select(x => x.Name).Order());
            Assert.Equal(Conversation, Messages(p.GetProperty("prompt")));
            Assert.Single(Messages(p.GetProperty("chosen")));
            Assert.Single(Messages(p.GetProperty("rejected")));
            return (OneAssistantMessage(p.GetProperty("chosen")), OneAssistantMessage(p.GetProperty("rejected")));
        }).ToList();
        Assert.Equal([("2 + 2 = 4.", "2 + 2 = 5."), ("4.", "Hmm, I think 2 + 2 = 4.")], pairs); // the regeneration, then the edit
        Assert.Contains("exported 2 conversational preference pairs", error);
    }

    [Fact]
    public void Kto_export_labels_thumbs_and_stars_and_leaves_out_three_stars()
    {
        var (code, output, error) = RunCli("export", "kto", "--events", path);

        Assert.True(code == 0, error);
        var examples = output.Select(l => JsonDocument.Parse(l).RootElement).Select(e =>
        {
            Assert.Equal(["completion", "label", "prompt"], e.EnumerateObject().Select(x => x.Name).Order());
            Assert.Equal(Conversation, Messages(e.GetProperty("prompt")));
            return (OneAssistantMessage(e.GetProperty("completion")), e.GetProperty("label").GetBoolean());
        }).ToList();
        Assert.Equal([("2 + 2 = 5.", false), ("2 + 2 = 4.", true), ("Hmm, I think 2 + 2 = 4.", true)], examples);
        Assert.Contains("exported 3 unpaired examples; skipped 1 3-star ratings (neither good nor bad), 1 of unknown or non-ChatML rollouts", error);
    }

    [Fact]
    public void Comment_export_joins_each_comment_with_its_answer_and_selects_by_flag_and_text()
    {
        var (code, all, error) = RunCli("export", "comments", "--events", path);
        var (_, unsafeOnly, _) = RunCli("export", "comments", "--events", path, "--flag", "unsafe");
        var (_, byText, _) = RunCli("export", "comments", "--events", path, "--contains", "FIVE");
        var (badCode, _, badError) = RunCli("export", "comments", "--events", path, "--flag", "rude");

        Assert.True(code == 0, error);
        Assert.Contains("exported 2 of 2 comments", error);
        var first = JsonDocument.Parse(all[0]).RootElement;
        Assert.Equal("five is wrong", first.GetProperty("comment").GetString());
        Assert.Equal(commented, first.GetProperty("rollout_id").GetGuid());
        Assert.Equal("2 + 2 = 5.", first.GetProperty("response").GetString());
        Assert.Equal(Conversation, Messages(first.GetProperty("prompt")));
        Assert.Equal(["unsafe", "other"], JsonDocument.Parse(Assert.Single(unsafeOnly)).RootElement.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal("five is wrong", JsonDocument.Parse(Assert.Single(byText)).RootElement.GetProperty("comment").GetString());
        Assert.Equal(1, badCode);
        Assert.Contains("--flag \"rude\" is not one of", badError);
    }

    [Fact]
    public void Sft_export_takes_edits_as_demonstrations()
    {
        var (_, output, error) = RunCli("export", "sft", "--events", path);

        Assert.Equal(2, output.Length);
        var edit = JsonDocument.Parse(output[0]).RootElement.GetProperty("messages");
        Assert.Equal([.. Conversation, ("assistant", "4.")], Messages(edit));
        Assert.Contains("exported 2 demonstrations", error);
    }

    [Fact]
    public void Comments_and_flags_are_found_with_their_rollout_and_by_type()
    {
        var (_, byRollout, _) = RunCli("replay", "--events", path, "--rollout-id", commented.ToString());
        var (_, byType, _) = RunCli("replay", "--events", path, "--type", nameof(CommentSubmitted));

        Assert.Contains(byRollout, l => l.Contains("\"type\":\"CommentSubmitted\"") && l.Contains("five is wrong"));
        Assert.Equal(2, byType.Length);
        var comment = JsonDocument.Parse(byType[0]).RootElement.GetProperty("message");
        Assert.Equal(["wrong"], comment.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
    }

    [Fact]
    public void Chatml_prompts_read_back_into_messages_and_other_text_does_not()
    {
        Assert.Equal([new ChatMessage("system", "Be brief."), new ChatMessage("user", "What is 2 + 2?")], Rlhf.Cli.Archive.ChatMlConversation.Parse(Prompt));
        Assert.Null(Rlhf.Cli.Archive.ChatMlConversation.Parse("Q: What is 2 + 2?\nA:"));
        Assert.Null(Rlhf.Cli.Archive.ChatMlConversation.Parse("<|im_start|>user\nno end<|im_start|>assistant\n"));
    }
}
