using Rlhf.Generation.Rollouts;
using Rlhf.Generation.Tests.Support;
using Rlhf.Modeling.Generation;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

public sealed class ResponseFinisherTests
{
    static readonly int EndOfTurn = TinyPolicy.Tokenizer.EosId;
    static readonly int[] Stops = [EndOfTurn];

    static GeneratedSequence Sequence(string text, FinishReason finish, bool endOfTurn)
    {
        var ids = TinyPolicy.Tokenizer.Encode(text).ToList();
        if (endOfTurn)
            ids.Add(EndOfTurn);
        return new GeneratedSequence(ids, ids.Select((_, i) => -0.1f * (i + 1)).ToList(), finish);
    }

    [Fact]
    public void End_of_turn_token_is_kept_in_the_rollout_but_not_in_the_text()
    {
        var finished = ResponseFinisher.Finish(Sequence("hello", FinishReason.Stop, endOfTurn: true), TinyPolicy.Tokenizer, Stops, []);

        Assert.Equal("hello", finished.Text);
        Assert.Equal("stop", finished.FinishReason);
        Assert.Equal(6, finished.TokenIds.Count);
        Assert.Equal(EndOfTurn, finished.TokenIds[^1]);
        Assert.Equal(6, finished.LogProbs.Count);
    }

    [Fact]
    public void Stop_string_cuts_the_text_and_the_tokens_where_it_completes()
    {
        var finished = ResponseFinisher.Finish(Sequence("hello world, again", FinishReason.Length, endOfTurn: false), TinyPolicy.Tokenizer,
            Stops, ["zzz", "o w"]);

        Assert.Equal("hell", finished.Text);
        Assert.Equal("stop", finished.FinishReason);
        Assert.Equal("hello w", TinyPolicy.Tokenizer.Decode(finished.TokenIds));
        Assert.Equal([-0.1f, -0.2f, -0.3f, -0.4f, -0.5f, -0.6f, -0.7f], finished.LogProbs);
    }

    [Fact]
    public void The_stop_string_completed_first_wins()
    {
        var finished = ResponseFinisher.Finish(Sequence("abcdef", FinishReason.Length, endOfTurn: false), TinyPolicy.Tokenizer, Stops, ["bcdef", "cd"]);

        Assert.Equal("ab", finished.Text);
        Assert.Equal(4, finished.TokenIds.Count);
    }

    [Fact]
    public void Without_a_match_the_sequence_is_served_whole()
    {
        var finished = ResponseFinisher.Finish(Sequence("abc", FinishReason.Length, endOfTurn: false), TinyPolicy.Tokenizer, Stops, ["x"]);

        Assert.Equal("abc", finished.Text);
        Assert.Equal("length", finished.FinishReason);
        Assert.Equal(3, finished.TokenIds.Count);
    }

    [Fact]
    public void A_stop_string_inside_the_end_of_turn_token_text_does_not_match_it()
    {
        var finished = ResponseFinisher.Finish(Sequence("ok", FinishReason.Stop, endOfTurn: true), TinyPolicy.Tokenizer, Stops, ["im_end"]);

        Assert.Equal("ok", finished.Text);
        Assert.Equal("stop", finished.FinishReason);
        Assert.Equal(3, finished.TokenIds.Count);
    }
}
