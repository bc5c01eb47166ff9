using Rlhf.Modeling.Tokenization;
using Rlhf.Training;

namespace Rlhf.Demo.Tests;

/// <summary>The task's split, answer extraction, corpus tokens, the labelers' hidden preference and the feedback conversion.</summary>
public sealed class TaskAndLabelerTests
{
    [Fact]
    public void Split_is_by_fact_deterministic_and_disjoint()
    {
        var (train, heldOut) = ArithmeticTask.Split(0.25, seed: 1);
        var (train2, heldOut2) = ArithmeticTask.Split(0.25, seed: 1);
        Assert.Equal(155, train.Count + heldOut.Count);
        Assert.Equal(39, heldOut.Count);
        Assert.Equal(heldOut, heldOut2);
        Assert.Equal(train, train2);
        Assert.Empty(train.Intersect(heldOut));
        Assert.NotEqual(heldOut, ArithmeticTask.Split(0.25, seed: 2).HeldOut);
        // Every phrasing of a held-out fact is held out, none is a training question.
        var trainTexts = DemoCorpus.Questions(train).Select(q => q.Text).ToHashSet();
        Assert.All(DemoCorpus.Questions(heldOut), q => Assert.DoesNotContain(q.Text, trainTexts));
        Assert.Equal(4 * 39, DemoCorpus.Questions(heldOut).Count);
    }

    [Theory]
    [InlineData("7 + 5 = 12.", 12)]
    [InlineData("Hmm, I think 7 + 5 = 13.", 13)]
    [InlineData("3 - 3 = 0.", 0)]
    [InlineData("2 = 3 and 3 + 4 = 7", 7)]
    [InlineData("x = -2", -2)]
    [InlineData("12.", null)]
    [InlineData("no number here", null)]
    [InlineData("", null)]
    public void The_answer_is_the_number_after_the_last_equals_sign(string response, int? expected) =>
        Assert.Equal(expected, ArithmeticTask.ExtractAnswer(response));

    [Theory]
    [InlineData(7, 5, '+', 7, 6)]
    [InlineData(7, 9, '+', 7, 8)]
    [InlineData(7, 3, '-', 7, 4)]
    [InlineData(4, 4, '-', 4, 3)]
    [InlineData(5, 0, '-', 5, 1)]
    public void Misreading_changes_the_second_number_by_one_and_stays_in_the_task(int a, int b, char op, int readA, int readB)
    {
        var misread = ArithmeticTask.Misread(new ArithmeticQuestion(a, b, op, 2));
        Assert.Equal(new ArithmeticQuestion(readA, readB, op, 2), misread);
        Assert.Contains((misread!.A, misread.B, op), ArithmeticTask.AllFacts());
    }

    [Fact]
    public void Zero_minus_zero_has_no_misreading() => Assert.Null(ArithmeticTask.Misread(new ArithmeticQuestion(0, 0, '-', 0)));

    [Fact]
    public void Hidden_preference_puts_correct_above_wrong_then_concise_above_rambling()
    {
        var q = new ArithmeticQuestion(7, 5, '+', 0);
        var misread = ArithmeticTask.Misread(q)!;
        Assert.Equal(3, SimulatedLabelers.HiddenScore(q, "7 + 5 = 12."));
        Assert.Equal(3, SimulatedLabelers.HiddenScore(q, " 7 + 5 = 12. "));
        Assert.Equal(2, SimulatedLabelers.HiddenScore(q, ArithmeticTask.RamblingAnswer(q, 12, 0)));
        Assert.Equal(2, SimulatedLabelers.HiddenScore(q, "7 + 5 = 12"));
        Assert.Equal(1, SimulatedLabelers.HiddenScore(q, ArithmeticTask.ConciseAnswer(misread, misread.Answer)));
        Assert.Equal(1, SimulatedLabelers.HiddenScore(q, "7 + 5 = 13."));
        Assert.Equal(0, SimulatedLabelers.HiddenScore(q, ArithmeticTask.RamblingAnswer(q, 13, 2)));
        Assert.Equal(0, SimulatedLabelers.HiddenScore(q, "12."));
        Assert.Equal(0, SimulatedLabelers.HiddenScore(q, "no idea"));
    }

    [Fact]
    public void Well_formed_and_computed_replies_are_told_apart()
    {
        var q = new ArithmeticQuestion(7, 5, '+', 0);
        Assert.True(ArithmeticTask.RestatesEquation(q, "Sure! So 7 + 5 = 13."));
        Assert.False(ArithmeticTask.RestatesEquation(q, "7 + 6 = 13."));
        Assert.True(ArithmeticTask.ComputesCorrectly("7 + 6 = 13."));
        Assert.False(ArithmeticTask.ComputesCorrectly("7 + 5 = 13."));
        Assert.True(ArithmeticTask.ComputesCorrectly("Easy one: 9 - 4 = 5."));
        Assert.False(ArithmeticTask.ComputesCorrectly("13."));
    }

    [Fact]
    public void Noise_free_labelers_rank_by_the_hidden_preference()
    {
        var labelers = new SimulatedLabelers(new LabelerOptions(FlipProbability: 0, RatingShare: 0, PairwiseShare: 0), seed: 3);
        var q = new ArithmeticQuestion(3, 4, '+', 1);
        string[] candidates = ["3 + 5 = 8.", "3 + 4 = 7.", ArithmeticTask.RamblingAnswer(q, 7, 1), "3 + 4 = 7."];
        var ranking = Assert.IsType<RankingFeedback>(labelers.Judge(q, candidates));
        Assert.Equal([[1, 3], [2], [0]], ranking.Tiers.Select(t => t.ToArray()).ToArray());
    }

    [Fact]
    public void A_single_answer_gets_a_thumb_by_the_hidden_preference_and_keeps_a_given_rater()
    {
        var labelers = new SimulatedLabelers(new LabelerOptions(FlipProbability: 0), seed: 3);
        var q = new ArithmeticQuestion(3, 4, '+', 1);

        var right = labelers.JudgeOne(q, "3 + 4 = 7.");
        var rightRambling = labelers.JudgeOne(q, ArithmeticTask.RamblingAnswer(q, 7, 1), right.RaterId);
        var wrong = labelers.JudgeOne(q, "3 + 5 = 8.", "rater-9");

        Assert.Equal((1, 1, 0), (right.Thumbs, rightRambling.Thumbs, wrong.Thumbs));
        Assert.Equal(right.RaterId, rightRambling.RaterId);
        Assert.Equal("rater-9", wrong.RaterId);
    }

    [Fact]
    public void Label_noise_flips_about_the_configured_share_of_single_thumbs()
    {
        var labelers = new SimulatedLabelers(new LabelerOptions(FlipProbability: 0.1), seed: 5);
        var q = new ArithmeticQuestion(2, 2, '+', 0);

        var flipped = Enumerable.Range(0, 4000).Count(_ => labelers.JudgeOne(q, "2 + 2 = 4.").Thumbs == 0);

        Assert.InRange(flipped / 4000.0, 0.085, 0.115);
    }

    [Fact]
    public void Label_noise_flips_about_the_configured_share_of_pairwise_choices()
    {
        var labelers = new SimulatedLabelers(new LabelerOptions(FlipProbability: 0.1, RatingShare: 0, PairwiseShare: 1), seed: 5);
        var q = new ArithmeticQuestion(2, 2, '+', 0);
        var flipped = Enumerable.Range(0, 4000)
            .Select(_ => Assert.IsType<PairwiseFeedback>(labelers.Judge(q, ["2 + 2 = 4.", "2 + 2 = 5."])))
            .Count(choice => choice.Chosen == 1);
        Assert.InRange(flipped / 4000.0, 0.085, 0.115);
    }

    [Fact]
    public void Corpus_prompts_are_chatml_and_responses_end_the_turn()
    {
        var corpus = new DemoCorpus(new ByteTokenizer());
        var q = new ArithmeticQuestion(7, 5, '+', 0);
        var prompt = corpus.ChatPrompt(q);
        Assert.Equal("<|im_start|>user\nWhat is 7 + 5?<|im_end|>\n<|im_start|>assistant\n", corpus.Tokenizer.Decode(prompt));
        var careful = corpus.ChatDemonstration(q, sloppyShare: 0, misreadShare: 1, new Random(1));
        Assert.Equal("7 + 5 = 12.<|im_end|>", corpus.Tokenizer.Decode(careful.ResponseTokenIds));
        var misread = corpus.DecodeResponse(corpus.ChatDemonstration(q, sloppyShare: 1, misreadShare: 1, new Random(1)).ResponseTokenIds);
        Assert.Matches(@"^Hmm, [^=]*7 \+ 6 = 13\.$", misread);
        var rambling = corpus.ChatDemonstration(q, sloppyShare: 1, misreadShare: 0, new Random(1));
        Assert.Equal(corpus.EndOfTurnId, rambling.ResponseTokenIds[^1]);
        Assert.Single(rambling.ResponseTokenIds, id => id == corpus.EndOfTurnId);
        Assert.Equal(12, ArithmeticTask.ExtractAnswer(corpus.DecodeResponse(rambling.ResponseTokenIds)));
        Assert.False(SimulatedLabelers.IsConcise(q, corpus.DecodeResponse(rambling.ResponseTokenIds)));
        // The sloppy demonstrator rambles and misreads at the configured rate; every reply still computes its equation right.
        var noisy = Enumerable.Range(0, 400)
            .Select(i => corpus.DecodeResponse(corpus.ChatDemonstration(q, sloppyShare: 0.5, misreadShare: 0.8, new Random(i)).ResponseTokenIds))
            .ToList();
        Assert.All(noisy, reply => Assert.True(ArithmeticTask.ComputesCorrectly(reply), reply));
        Assert.All(noisy, reply => Assert.Equal(ArithmeticTask.IsCorrect(q, reply) && !reply.StartsWith("Hmm", StringComparison.Ordinal), SimulatedLabelers.IsConcise(q, reply) && ArithmeticTask.IsCorrect(q, reply)));
        Assert.InRange(noisy.Count(reply => ArithmeticTask.IsCorrect(q, reply)), 200, 280);

        var document = corpus.FactDocument([(7, 5, '+'), (9, 3, '-')]);
        Assert.Empty(document.PromptTokenIds);
        Assert.Equal("<|bos|>7 + 5 = 12\n9 - 3 = 6\n", corpus.Tokenizer.Decode(document.ResponseTokenIds));
        var qa = corpus.Tokenizer.Decode(corpus.FactDocument([(7, 5, '+')], qaShare: 1, new Random(2)).ResponseTokenIds);
        Assert.Matches(@"^<\|bos\|>Q: [^\n]*7 \+ 5[?.]\nA: 7 \+ 5 = 12\.\n$", qa);
        Assert.Equal("<|bos|>7 + 5 = ", corpus.Tokenizer.Decode(corpus.KnowledgeProbe(q)));
    }

    [Fact]
    public void Feedback_becomes_rankings_and_thumbs_pair_up_per_prompt()
    {
        var buffer = new FeedbackBuffer();
        IReadOnlyList<int> prompt = [1, 2, 3];
        IReadOnlyList<int> other = [4, 5];
        IReadOnlyList<IReadOnlyList<int>> candidates = [[10], [11], [12], [13]];

        var full = buffer.Add(prompt, candidates, new RankingFeedback("rater-1", [[2], [0, 3], [1]]));
        Assert.Equal([(12, 0), (10, 1), (13, 1), (11, 2)], Assert.Single(full).Responses.Select(r => (r.TokenIds[0], r.Tier)).ToArray());
        Assert.Empty(buffer.Add(prompt, candidates, new RankingFeedback("rater-1", [[0, 1, 2, 3]])));
        var pair = Assert.Single(buffer.Add(prompt, candidates, new PairwiseFeedback("rater-2", Chosen: 3, Rejected: 1)));
        Assert.Equal([(13, 0), (11, 1)], pair.Responses.Select(r => (r.TokenIds[0], r.Tier)).ToArray());

        Assert.Empty(buffer.Add(prompt, candidates, new RatingFeedback("rater-3", Candidate: 0, Thumbs: 1)));
        Assert.Empty(buffer.Add(other, candidates, new RatingFeedback("rater-3", Candidate: 1, Thumbs: 0)));
        var thumbs = Assert.Single(buffer.Add(prompt, candidates, new RatingFeedback("rater-4", Candidate: 2, Thumbs: 0)));
        Assert.Equal([(10, 0), (12, 1)], thumbs.Responses.Select(r => (r.TokenIds[0], r.Tier)).ToArray());
        Assert.Equal(prompt, thumbs.PromptTokenIds);

        Assert.Equal(3, buffer.Rankings.Count);
        Assert.Equal(6, buffer.Judgements);
        Assert.Equal(3, buffer.Ratings);
    }

    [Fact]
    public void Bootstrap_hash_names_the_settings()
    {
        var options = new BootstrapOptions();
        Assert.Equal(options.Hash(), new BootstrapOptions().Hash());
        Assert.Matches("^[0-9a-f]{16}$", options.Hash());
        Assert.NotEqual(options.Hash(), (options with { SloppyShare = 0.6 }).Hash());
        Assert.NotEqual(options.Hash(), (options with { Seed = 2 }).Hash());
        Assert.Throws<ArgumentException>(() => (options with { HiddenSize = 100, Heads = 8 }).Validate());
    }
}
