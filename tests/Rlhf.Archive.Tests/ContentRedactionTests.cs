using System.Text.Json;
using Rlhf.Contracts;
using Rlhf.Storage;

namespace Rlhf.Archive.Tests;

/// <summary><c>Privacy:RedactContent</c> for archived events: what an archive writer writes with the option on.</summary>
public sealed class ContentRedactionTests
{
    static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    static string Line<T>(T message) => JsonSerializer.Serialize(new
    {
        type = typeof(T).Name,
        messageId = Guid.NewGuid(),
        correlationId = Guid.NewGuid(),
        sentTime = DateTimeOffset.UtcNow,
        message,
    }, Web);

    [Fact]
    public void A_rollouts_prompt_response_and_token_ids_become_markers_and_its_ids_stay()
    {
        var rollout = new RolloutGenerated(Guid.NewGuid(), "chatcmpl-r", 1, 2, 3, "My SSN is 078-05-1120", [5, 6, 7], "Thanks", [8, 9], [-0.5f, -0.25f], "stop",
            new SamplingParameters(1, 1, 0, 16, null, []), "app", "erin", DateTimeOffset.UtcNow);

        var redacted = ContentRedaction.RedactLine(Line(rollout));

        Assert.DoesNotContain("078-05-1120", redacted);
        Assert.DoesNotContain("Thanks", redacted);
        using var document = JsonDocument.Parse(redacted);
        var message = document.RootElement.GetProperty("message");
        Assert.Equal(ContentRedaction.Marker("My SSN is 078-05-1120"), message.GetProperty("promptText").GetString());
        Assert.Equal(ContentRedaction.Marker("Thanks"), message.GetProperty("responseText").GetString());
        Assert.Equal(ContentRedaction.Marker([5, 6, 7]), message.GetProperty("promptTokenIds").GetString());
        Assert.StartsWith("[redacted 2 tokens sha256:", message.GetProperty("responseTokenIds").GetString());
        Assert.Equal(rollout.RolloutId, message.GetProperty("rolloutId").GetGuid());
        Assert.Equal("chatcmpl-r", message.GetProperty("groupId").GetString());
        Assert.Equal("erin", message.GetProperty("userId").GetString());
        Assert.Equal(3, message.GetProperty("policyVersion").GetInt64());
        Assert.Equal(2, message.GetProperty("behaviourLogProbs").GetArrayLength());
        Assert.Equal("RolloutGenerated", document.RootElement.GetProperty("type").GetString());
    }

    [Fact]
    public void Chat_messages_keep_their_roles_and_comments_their_flags_and_the_erasure_rule_still_applies()
    {
        var demonstration = new DemonstrationSubmitted(Guid.NewGuid(), [new ChatMessage("system", "Be brief."), new ChatMessage("user", "I am Erin Doe")],
            "Hello Erin", "chatcmpl-d", "erin", "app", DateTimeOffset.UtcNow);
        var comment = new CommentSubmitted(Guid.NewGuid(), Guid.NewGuid(), "chatcmpl-d", "Erin here, that was rude", ["rude"], "erin", "app", DateTimeOffset.UtcNow, 1);

        var demo = ContentRedaction.RedactLine(Line(demonstration));
        var said = ContentRedaction.RedactLine(Line(comment));

        Assert.DoesNotContain("Erin", demo);
        Assert.DoesNotContain("Be brief", demo);
        using (var document = JsonDocument.Parse(demo))
        {
            var messages = document.RootElement.GetProperty("message").GetProperty("messages");
            Assert.Equal(["system", "user"], messages.EnumerateArray().Select(m => m.GetProperty("role").GetString()));
            Assert.Equal(ContentRedaction.Marker("I am Erin Doe"), messages[1].GetProperty("content").GetString());
        }

        Assert.DoesNotContain("Erin", said);
        Assert.Contains("\"flags\":[\"rude\"]", said);
        var filter = new EventFilter { Erased = Erased("chatcmpl-d") };
        Assert.True(filter.IsErasedLine(demo));
        Assert.True(filter.IsErasedLine(said));
    }

    [Fact]
    public void Equal_texts_get_equal_markers_and_different_texts_different_ones()
    {
        Assert.Equal(ContentRedaction.Marker("same"), ContentRedaction.Marker("same"));
        Assert.NotEqual(ContentRedaction.Marker("same"), ContentRedaction.Marker("Same"));
        Assert.Equal("[redacted 0 chars sha256:e3b0c44298fc]", ContentRedaction.Marker(""));
    }

    static ErasedData Erased(string group)
    {
        var erased = new ErasedData();
        erased.Add(new UserErasure("someone", DateTimeOffset.UtcNow, [group], []));
        return erased;
    }
}
