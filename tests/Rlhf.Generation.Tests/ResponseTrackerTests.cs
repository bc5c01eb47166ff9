using Rlhf.Generation.Rollouts;
using Rlhf.Modeling.Tokenization;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

public sealed class ResponseTrackerTests
{
    static readonly ITextTokenizer Tokenizer = TinyPolicy.Tokenizer;
    static readonly int EndOfTurn = Tokenizer.EosId;
    static readonly int[] Stops = [EndOfTurn];

    /// <summary>Feeds the tokens of <paramref name="text"/> (then end-of-turn) until the tracker ends the choice; returns what was sent.</summary>
    static (FinishedResponse? Finished, List<string> Deltas, int Fed) Feed(string text, IReadOnlyList<string> stopStrings, bool endOfTurn = false,
        int maxNewTokens = 100)
    {
        var ids = Tokenizer.Encode(text).ToList();
        if (endOfTurn)
            ids.Add(EndOfTurn);
        var tracker = new ResponseTracker(Tokenizer, Stops, stopStrings, maxNewTokens);
        var deltas = new List<string>();
        var fed = 0;
        foreach (var id in ids)
        {
            fed++;
            deltas.Add(tracker.Accept(id, -0.1f * fed, []));
            if (tracker.Finished is not null)
                break;
        }

        return (tracker.Finished, deltas, fed);
    }

    [Fact]
    public void End_of_turn_token_is_kept_in_the_rollout_but_not_in_the_text()
    {
        var (finished, deltas, _) = Feed("hello", [], endOfTurn: true);

        Assert.Equal("hello", finished!.Text);
        Assert.Equal("hello", string.Concat(deltas));
        Assert.Equal("stop", finished.FinishReason);
        Assert.Equal(6, finished.TokenIds.Count);
        Assert.Equal(5, finished.ContentTokenCount);
        Assert.Equal(EndOfTurn, finished.TokenIds[^1]);
        Assert.Equal(6, finished.LogProbs.Count);
    }

    [Fact]
    public void A_stop_string_ends_the_choice_the_token_it_completes_and_is_never_sent()
    {
        var (finished, deltas, fed) = Feed("hello world, again", ["zzz", "o w"]);

        Assert.Equal(7, fed);
        Assert.Equal("hell", finished!.Text);
        Assert.Equal("hell", string.Concat(deltas));
        Assert.Equal("stop", finished.FinishReason);
        Assert.Equal("hello w", Tokenizer.Decode(finished.TokenIds));
        Assert.Equal([-0.1f, -0.2f, -0.3f, -0.4f, -0.5f, -0.6f, -0.7f], finished.LogProbs);
    }

    [Fact]
    public void Text_that_may_begin_a_stop_string_is_held_back_until_it_does_not()
    {
        var (finished, deltas, _) = Feed("abcabd", ["abd"]);

        Assert.Equal(["", "", "abc", "", "", ""], deltas);
        Assert.Equal("abc", finished!.Text);
    }

    [Fact]
    public void The_stop_string_completed_first_wins()
    {
        var (finished, _, fed) = Feed("abcdef", ["bcdef", "cd"]);

        Assert.Equal("ab", finished!.Text);
        Assert.Equal(4, fed);
    }

    [Fact]
    public void Without_a_match_the_choice_runs_to_its_max_tokens()
    {
        var (finished, deltas, fed) = Feed("abcdef", ["x"], maxNewTokens: 3);

        Assert.Equal("abc", finished!.Text);
        Assert.Equal("abc", string.Concat(deltas));
        Assert.Equal("length", finished.FinishReason);
        Assert.Equal(3, fed);
    }

    [Fact]
    public void A_stop_string_inside_the_end_of_turn_token_text_does_not_match_it()
    {
        var (finished, _, _) = Feed("ok", ["im_end"], endOfTurn: true);

        Assert.Equal("ok", finished!.Text);
        Assert.Equal("stop", finished.FinishReason);
        Assert.Equal(3, finished.TokenIds.Count);
    }

    [Fact]
    public void A_character_split_across_byte_tokens_is_sent_whole()
    {
        var (finished, deltas, _) = Feed("é€", [], maxNewTokens: 100, endOfTurn: true);

        Assert.Equal(["", "é", "", "", "€", ""], deltas);
        Assert.Equal("é€", finished!.Text);
    }
}
