using Rlhf.Reward.Training;
using Rlhf.Training;

namespace Rlhf.Reward.Tests;

/// <summary>Which role each ranking gets (held out, fresh, replay) and how rounds move them, without a model.</summary>
public sealed class TrainingRankingsTests
{
    const double Share = 0.5;

    static readonly string HeldOutGroup = Group(heldOut: true), TrainingGroup = Group(heldOut: false);

    static string Group(bool heldOut) => Enumerable.Range(0, 1_000).Select(i => $"group-{i}").First(id => HeldOutSplit.IsHeldOut(id, Share) == heldOut);

    static TrainingRankings Create(int trainEvery = 2, int replayCapacity = 100, int replaySample = 3, int heldOutCapacity = 100) =>
        new(new RewardOptions
        {
            HeldOutShare = Share, TrainEvery = trainEvery, ReplayCapacity = replayCapacity, ReplaySample = replaySample, HeldOutCapacity = heldOutCapacity,
        });

    /// <summary>A ranking told apart by its prompt token <paramref name="id"/>.</summary>
    static JournalRanking Ranking(long seq, int id, string? group = null) =>
        new(new Ranking([id], [new RankedResponse([1], 0), new RankedResponse([2], 1)]), group ?? TrainingGroup, seq);

    static int Id(Ranking ranking) => ranking.PromptTokenIds[0];

    [Fact]
    public void Forgetting_groups_drops_their_fresh_replay_and_held_out_rankings_and_keeps_the_trained_count()
    {
        var rankings = Create(trainEvery: 2);
        var otherTraining = Enumerable.Range(1_000, 1_000).Select(i => $"group-{i}").First(id => !HeldOutSplit.IsHeldOut(id, Share));
        rankings.AddNew([Ranking(1, 10), Ranking(2, 11, otherTraining), Ranking(3, 12, HeldOutGroup)]);
        rankings.CompleteRound(rankings.NextRound().Count); // 10 and 11 go to replay
        rankings.AddNew([Ranking(4, 13), Ranking(5, 14, otherTraining)]);
        Assert.Equal((4L, 2, 2L), (rankings.Seen, rankings.Fresh, rankings.Trained));

        var dropped = rankings.Forget(new HashSet<string> { TrainingGroup, HeldOutGroup });

        Assert.Equal(3, dropped);
        Assert.Empty(rankings.HeldOut);
        Assert.Equal([14], rankings.NextRound().Select(r => Id(r.Ranking)));
        Assert.Equal([11], rankings.SampleReplay(new Random(1)).Select(Id));
        Assert.Equal((3L, 1, 2L), (rankings.Seen, rankings.Fresh, rankings.Trained));
        Assert.Equal(0, rankings.Forget(new HashSet<string> { TrainingGroup }));
    }

    [Fact]
    public void Forgetting_by_journal_position_drops_old_rankings_of_every_role()
    {
        var rankings = Create(trainEvery: 1);
        rankings.AddNew([Ranking(1, 10), Ranking(2, 11, HeldOutGroup)]);
        rankings.CompleteRound(rankings.NextRound().Count); // 10 goes to replay
        rankings.AddNew([Ranking(3, 12), Ranking(4, 13), Ranking(5, 14, HeldOutGroup)]);

        Assert.Equal(3, rankings.ForgetWhere(r => r.Seq <= 3));

        Assert.Equal([14], rankings.HeldOut.Select(Id));
        Assert.Equal([13], rankings.NextRound().Select(r => Id(r.Ranking)));
        Assert.Empty(rankings.SampleReplay(new Random(1)));
        Assert.Equal((2L, 1, 1L), (rankings.Seen, rankings.Fresh, rankings.Trained));
    }

    [Fact]
    public void The_held_out_set_keeps_its_newest_rankings_up_to_its_capacity_when_added_and_when_restored()
    {
        var rankings = Create(heldOutCapacity: 3);

        rankings.AddNew([Ranking(1, 10, HeldOutGroup), Ranking(2, 11, HeldOutGroup), Ranking(3, 20)]);
        rankings.AddNew([Ranking(4, 12, HeldOutGroup), Ranking(5, 13, HeldOutGroup), Ranking(6, 14, HeldOutGroup)]);

        Assert.Equal([12, 13, 14], rankings.HeldOut.Select(Id));
        Assert.Equal((1L, 1), (rankings.Seen, rankings.Fresh)); // training rankings are not affected
        Assert.Equal(3, rankings.Forget(new HashSet<string> { HeldOutGroup })); // the dropped ones are gone already
        Assert.Empty(rankings.HeldOut);

        var restored = Create(heldOutCapacity: 2);
        restored.AddRestored([Ranking(1, 10, HeldOutGroup), Ranking(2, 11, HeldOutGroup), Ranking(3, 12, HeldOutGroup)], consumedThrough: 0);
        Assert.Equal([11, 12], restored.HeldOut.Select(Id));
    }

    [Fact]
    public void Held_out_groups_measure_and_the_others_wait_for_a_round()
    {
        var rankings = Create();

        rankings.AddNew([Ranking(1, 10, HeldOutGroup), Ranking(2, 11)]);

        Assert.Equal([10], rankings.HeldOut.Select(Id));
        Assert.Equal((1L, 1, 0L), (rankings.Seen, rankings.Fresh, rankings.Trained));
        Assert.False(rankings.RoundDue);
        rankings.AddNew([Ranking(3, 12)]);
        Assert.True(rankings.RoundDue);
    }

    [Fact]
    public void A_round_takes_the_oldest_fresh_rankings_into_replay()
    {
        var rankings = Create(trainEvery: 2);
        rankings.AddNew([Ranking(1, 10), Ranking(2, 11), Ranking(3, 12)]);

        var round = rankings.NextRound();
        Assert.Equal([1L, 2L], round.Select(r => r.Seq));
        Assert.Equal(3, rankings.Fresh); // taken only when the round completes
        rankings.CompleteRound(round.Count);

        Assert.Equal((1, 2, 2L), (rankings.Fresh, rankings.Replay, rankings.Trained));
        Assert.Equal([10, 11], rankings.SampleReplay(new Random(1)).Select(Id)); // no more than ReplaySample: all of them
    }

    [Fact]
    public void Replay_keeps_the_newest_rankings_up_to_its_capacity_and_samples_from_them()
    {
        var rankings = Create(trainEvery: 4, replayCapacity: 3, replaySample: 2);
        rankings.AddNew([.. Enumerable.Range(0, 4).Select(i => Ranking(i + 1, 10 + i))]);
        rankings.CompleteRound(rankings.NextRound().Count);

        Assert.Equal(3, rankings.Replay);
        var sample = rankings.SampleReplay(new Random(5));
        Assert.Equal(2, sample.Count);
        Assert.All(sample, r => Assert.InRange(Id(r), 11, 13)); // ranking 10, the oldest, was dropped
        Assert.Equal(sample.Select(Id), rankings.SampleReplay(new Random(5)).Select(Id)); // the sampler's seed decides
    }

    [Fact]
    public void A_restore_puts_what_rounds_took_into_replay_and_the_rest_back_as_fresh()
    {
        var rankings = Create(trainEvery: 2);
        rankings.AddNew([Ranking(1, 99)]);

        rankings.Clear();
        rankings.AddRestored([Ranking(1, 10), Ranking(2, 11, HeldOutGroup), Ranking(3, 12)], consumedThrough: 2);
        rankings.AddRestored([Ranking(4, 13), Ranking(5, 14)], consumedThrough: 2);

        Assert.Equal((4L, 3, 1, 1L), (rankings.Seen, rankings.Fresh, rankings.Replay, rankings.Trained));
        Assert.Equal([11], rankings.HeldOut.Select(Id));
        Assert.Equal([3L, 4L], rankings.NextRound().Select(r => r.Seq));
    }
}
