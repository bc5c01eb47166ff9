using System.Text.Json;

namespace Rlhf.Feedback.Tests;

/// <summary>
/// Feedback on rollouts about to expire is refused up front (422), so nothing is answered 202 that the reward service
/// would journal with no pairs because the rollouts were gone by the time it read them.
/// </summary>
public sealed class RolloutExpiryTests
{
    [Fact]
    public async Task Feedback_on_a_rollout_expiring_within_the_margin_is_a_422_naming_it_and_earlier_feedback_is_accepted()
    {
        var clock = new ManualClock { Now = DateTimeOffset.UtcNow };
        await using var host = FeedbackTestHost.Start(clock: clock); // rollouts kept 7 days, margin one hour
        var (group, ids) = await host.SeedGroupAsync(2);

        clock.Now += TimeSpan.FromDays(7) - TimeSpan.FromHours(2);
        await (await host.PostAsync("ratings", new { rollout_id = ids[0], scale = "thumbs", value = 1, rater_id = "early" })).AcceptedFeedbackIdAsync();

        clock.Now += TimeSpan.FromMinutes(90);
        var late = await host.PostAsync("rankings", new { group_id = group, all_bad = true, rater_id = "late" }, idempotencyKey: "late");

        var detail = await late.ProblemDetailAsync(422);
        Assert.StartsWith($"Rollout(s) {ids[0]} (served ", detail);
        Assert.Contains("expire within 01:00:00 (rollouts are kept 7.00:00:00)", detail);
        var problem = JsonDocument.Parse(await late.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal(ids.Order(), problem.GetProperty("expiring_rollout_ids").EnumerateArray().Select(e => e.GetGuid()).Order());
        Assert.Single(host.Recorder.All);
        Assert.Null(await host.Claims.GetAsync(FeedbackTestHost.JudgementClaim(group, "late"), TestContext.Current.CancellationToken));
        Assert.True(await host.IdempotencyKeyIsFree("late"));
    }

    [Fact]
    public async Task The_margin_is_configurable_and_a_tenth_of_a_short_ttl_by_default()
    {
        var clock = new ManualClock { Now = DateTimeOffset.UtcNow };
        await using var shortTtl = FeedbackTestHost.Start(new Dictionary<string, string?> { ["Storage:RolloutTtl"] = "00:10:00" }, clock);
        var (group, _) = await shortTtl.SeedGroupAsync(2);
        clock.Now += TimeSpan.FromMinutes(9) + TimeSpan.FromSeconds(30);

        var refused = await shortTtl.PostAsync("rankings", new { group_id = group, all_bad = true, rater_id = "r" });
        Assert.Contains("expire within 00:01:00", await refused.ProblemDetailAsync(422));

        var noMarginClock = new ManualClock { Now = DateTimeOffset.UtcNow };
        await using var noMargin = FeedbackTestHost.Start(new Dictionary<string, string?>
        {
            ["Storage:RolloutTtl"] = "00:10:00",
            ["Feedback:RolloutExpiryMargin"] = "00:00:00",
        }, noMarginClock);
        var (kept, _) = await noMargin.SeedGroupAsync(2);
        noMarginClock.Now += TimeSpan.FromMinutes(9) + TimeSpan.FromSeconds(30);
        await (await noMargin.PostAsync("rankings", new { group_id = kept, all_bad = true, rater_id = "r" })).AcceptedFeedbackIdAsync();
    }
}
