using Rlhf.Contracts;
using Rlhf.Learner.Training;

namespace Rlhf.Learner.Tests.Units;

/// <summary>The admission rules on plain records: no host, no bus, no model.</summary>
public sealed class RolloutAdmissionTests
{
    /// <summary>Vocabulary 10, context 8, PPO at T = 1, lag bound 1; the learner is at policy 4, and the registry holds 0, 2, 3, 4.</summary>
    static readonly AdmissionRules Rules = new(VocabSize: 10, ContextLength: 8, Temperature: 1.0, MaxPolicyLag: 1, PolicyVersion: 4,
        RegisteredVersions: [0, 2, 3, 4]);

    static RolloutGenerated Generated(long policyVersion = 4, double temperature = 1.0) => new(
        Guid.NewGuid(), "group", 0, 1, policyVersion, "prompt", [1, 2, 3], "response", [4, 5], [-0.5f, -1.5f], "stop",
        new SamplingParameters(temperature, 1.0, 0, 2, null, []), null, null, DateTimeOffset.UnixEpoch);

    static RolloutScored Scored(RolloutGenerated rollout, float reward = 1f) =>
        new(rollout.RolloutId, rollout.GroupId, rollout.PolicyVersion, 1, reward, DateTimeOffset.UnixEpoch);

    static AdmissionResult AdmitOne(RolloutGenerated rollout, float reward = 1f) =>
        RolloutAdmission.Admit([Scored(rollout, reward)], new HashSet<Guid>(), new Dictionary<Guid, RolloutGenerated> { [rollout.RolloutId] = rollout }, Rules);

    static RejectedRollout RejectedOne(RolloutGenerated rollout, float reward = 1f)
    {
        var result = AdmitOne(rollout, reward);
        Assert.Empty(result.Admitted);
        return Assert.Single(result.Rejected);
    }

    [Fact]
    public void A_well_formed_current_rollout_is_admitted_with_lag_0_and_its_reward()
    {
        var rollout = Generated();

        var admitted = Assert.Single(AdmitOne(rollout, reward: 0.25f).Admitted);

        Assert.Equal(rollout.RolloutId, admitted.RolloutId);
        Assert.Same(rollout, admitted.Generated);
        Assert.Equal(0.25f, admitted.Reward);
        Assert.Equal(0, admitted.Lag);
    }

    [Fact]
    public void Claimed_and_repeated_rollouts_are_duplicates_and_the_first_copy_is_kept()
    {
        var claimed = Generated();
        var repeated = Generated();
        var stored = new Dictionary<Guid, RolloutGenerated> { [claimed.RolloutId] = claimed, [repeated.RolloutId] = repeated };

        var result = RolloutAdmission.Admit([Scored(claimed), Scored(repeated, 0.5f), Scored(repeated, 0.9f), Scored(claimed)],
            new HashSet<Guid> { claimed.RolloutId }, stored, Rules);

        var admitted = Assert.Single(result.Admitted);
        Assert.Equal((repeated.RolloutId, 0.5f), (admitted.RolloutId, admitted.Reward));
        Assert.Equal(3, result.Count(RolloutRejection.Duplicate));
        Assert.Equal(["already trained on", "repeated in the batch", "repeated in the batch"], result.Rejected.Select(r => r.Detail));
    }

    [Fact]
    public void A_rollout_gone_from_the_store_is_missing()
    {
        var rollout = Generated();

        var result = RolloutAdmission.Admit([Scored(rollout)], new HashSet<Guid>(), new Dictionary<Guid, RolloutGenerated>(), Rules);

        Assert.Equal(RolloutRejection.Missing, Assert.Single(result.Rejected).Reason);
    }

    public static TheoryData<string, Func<RolloutGenerated, RolloutGenerated>, float, string> Malformed => new()
    {
        { "NaN reward", r => r, float.NaN, "reward is NaN" },
        { "infinite reward", r => r, float.PositiveInfinity, "reward is Infinity" },
        { "empty prompt", r => r with { PromptTokenIds = [] }, 1f, "no prompt tokens" },
        { "empty response", r => r with { ResponseTokenIds = [], BehaviourLogProbs = [] }, 1f, "no response tokens" },
        { "log-prob count", r => r with { BehaviourLogProbs = [-0.5f] }, 1f, "1 behaviour log-probs for 2 response tokens" },
        { "over the context", r => r with { PromptTokenIds = [1, 2, 3, 4, 5, 6, 7] }, 1f, "9 tokens exceed the context of 8" },
        { "token id = vocab", r => r with { ResponseTokenIds = [4, 10] }, 1f, "token id 10 outside the vocabulary of 10" },
        { "negative token id", r => r with { PromptTokenIds = [1, -1, 3] }, 1f, "token id -1 outside the vocabulary of 10" },
        { "NaN log-prob", r => r with { BehaviourLogProbs = [-0.5f, float.NaN] }, 1f, "a behaviour log-prob is not finite" },
        { "no sampling", r => r with { Sampling = null! }, 1f, "no sampling parameters" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void A_malformed_rollout_is_invalid_and_says_why(string _, Func<RolloutGenerated, RolloutGenerated> damage, float reward, string detail)
    {
        var rejected = RejectedOne(damage(Generated()), reward);

        Assert.Equal(RolloutRejection.Invalid, rejected.Reason);
        Assert.Equal(detail, rejected.Detail);
    }

    [Fact]
    public void A_rollout_exactly_filling_the_context_with_the_last_token_id_is_valid()
    {
        Assert.Single(AdmitOne(Generated() with { PromptTokenIds = [1, 2, 3, 4, 5, 9] }).Admitted);
    }

    [Fact]
    public void A_rollout_sampled_at_another_temperature_is_off_temperature()
    {
        var rejected = RejectedOne(Generated(temperature: 0.7));

        Assert.Equal(RolloutRejection.OffTemperature, rejected.Reason);
        Assert.Equal("sampled at temperature 0.7, not 1", rejected.Detail);
    }

    [Fact]
    public void A_greedy_rollout_counts_as_temperature_1()
    {
        Assert.Single(AdmitOne(Generated(temperature: 0)).Admitted);
    }

    [Theory]
    [InlineData(4, 0)] // the learner's own version
    [InlineData(3, 1)] // one registered version (4) after it
    [InlineData(1, 3)] // 2, 3, 4 registered after it; 1 itself was never registered
    [InlineData(0, 3)]
    public void The_lag_counts_registered_versions_after_the_rollouts_up_to_the_learners(long version, int lag)
    {
        Assert.Equal(lag, RolloutAdmission.Lag(version, 4, [0, 2, 3, 4]));
    }

    [Fact]
    public void A_rollout_within_the_lag_bound_is_admitted_with_its_lag()
    {
        Assert.Equal(1, Assert.Single(AdmitOne(Generated(policyVersion: 3)).Admitted).Lag);
    }

    [Fact]
    public void A_rollout_over_the_lag_bound_is_stale()
    {
        var rejected = RejectedOne(Generated(policyVersion: 2));

        Assert.Equal(RolloutRejection.Stale, rejected.Reason);
        Assert.Equal("2 promoted versions behind policy 4, over the bound of 1", rejected.Detail);
    }

    [Fact]
    public void A_rollout_from_a_version_the_learner_has_not_reached_is_stale()
    {
        var rejected = RejectedOne(Generated(policyVersion: 5));

        Assert.Equal(RolloutRejection.Stale, rejected.Reason);
        Assert.Null(RolloutAdmission.Lag(5, 4, [0, 2, 3, 4]));
        Assert.Equal("from policy 5, which the learner (at 4) has not reached", rejected.Detail);
    }

    [Fact]
    public void Each_rollout_of_a_mixed_batch_gets_one_verdict_and_the_counts_add_up()
    {
        var good = Generated();
        var invalid = Generated() with { BehaviourLogProbs = [] };
        var hot = Generated(temperature: 2);
        var old = Generated(policyVersion: 0);
        var gone = Generated();
        var stored = new[] { good, invalid, hot, old }.ToDictionary(r => r.RolloutId);

        var result = RolloutAdmission.Admit([Scored(good), Scored(invalid), Scored(hot), Scored(old), Scored(gone), Scored(good)], new HashSet<Guid>(),
            stored, Rules);

        Assert.Equal([good.RolloutId], result.Admitted.Select(a => a.RolloutId));
        Assert.Equal(
            [(invalid.RolloutId, RolloutRejection.Invalid), (hot.RolloutId, RolloutRejection.OffTemperature), (old.RolloutId, RolloutRejection.Stale),
                (gone.RolloutId, RolloutRejection.Missing), (good.RolloutId, RolloutRejection.Duplicate)],
            result.Rejected.Select(r => (r.RolloutId, r.Reason)));
    }
}
