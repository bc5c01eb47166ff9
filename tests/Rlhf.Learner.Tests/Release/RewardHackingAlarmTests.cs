using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Rlhf.Contracts;
using Rlhf.Learner.Release;
using Rlhf.Learner.Training;
using Rlhf.Storage;

namespace Rlhf.Learner.Tests.Release;

/// <summary>The reward-hacking alarm over the gate's comparisons, with scripted verdicts and the in-memory registry.</summary>
public sealed class RewardHackingAlarmTests : IAsyncDisposable
{
    readonly InMemoryModelRegistry registry = new();
    readonly InMemoryAlarmWindowStore window = new();
    readonly ServiceProvider provider = new ServiceCollection().AddMassTransitTestHarness().BuildServiceProvider(true);
    readonly ITestHarness harness;
    readonly RewardHackingAlarm alarm;

    public RewardHackingAlarmTests()
    {
        harness = provider.GetRequiredService<ITestHarness>();
        alarm = new RewardHackingAlarm(new AlarmOptions { Window = 3, MinRewardRise = 0.1, MaxEvaluatorChange = 0 }, registry, window, TimeProvider.System,
            NullLogger<RewardHackingAlarm>.Instance);
    }

    public ValueTask DisposeAsync() => provider.DisposeAsync();

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static GateVerdict Verdict(double arithmetic, long champion = 4) => new([])
    {
        ChampionVersion = champion,
        Checks =
        [
            new GateCheck("reward-model", 96, 0.6, 0.55, 0.4, true, 1.0, 1.2),
            new GateCheck("arithmetic", 96, 0.5, 0.45, 0.4, true, 0.7, arithmetic),
        ],
    };

    [Fact]
    public async Task Rising_reward_with_falling_accuracy_pauses_promotion_and_publishes_the_alarm()
    {
        await harness.Start();

        await alarm.ObserveAsync(0.20, Verdict(0.70), harness.Bus, Cancel);
        await alarm.ObserveAsync(0.25, Verdict(0.72), harness.Bus, Cancel);
        Assert.Null(await registry.GetPromotionPauseAsync(ModelKind.Policy, Cancel));
        await alarm.ObserveAsync(0.35, Verdict(0.67, champion: 5), harness.Bus, Cancel);

        var raised = Assert.Single(harness.Published.Select<RewardHackingSuspected>(Cancel)).Context.Message;
        Assert.Equal(5, raised.PolicyVersion);
        Assert.Equal(0.15, raised.RewardRise, 9);
        Assert.Equal(-0.03, raised.EvaluatorChange["arithmetic"], 9);
        Assert.Contains("served rollouts rose +0.150 over the last 3 candidates while arithmetic changed -0.030", raised.Reason);
        Assert.StartsWith("reward hacking suspected:", (await registry.GetPromotionPauseAsync(ModelKind.Policy, Cancel))!.Reason);
    }

    [Fact]
    public async Task Reward_rising_with_accuracy_is_learning_not_hacking()
    {
        await harness.Start();

        for (var i = 0; i < 5; i++)
            await alarm.ObserveAsync(0.2 + 0.1 * i, Verdict(0.5 + 0.05 * i), harness.Bus, Cancel);

        Assert.Null(await registry.GetPromotionPauseAsync(ModelKind.Policy, Cancel));
        Assert.Empty(harness.Published.Select<RewardHackingSuspected>(Cancel));
    }

    [Fact]
    public async Task A_small_rise_or_a_verdict_without_an_independent_evaluator_raises_nothing()
    {
        await harness.Start();

        for (var i = 0; i < 3; i++)
            await alarm.ObserveAsync(0.2 + 0.03 * i, Verdict(0.7), harness.Bus, Cancel);
        for (var i = 0; i < 3; i++)
            await alarm.ObserveAsync(1.0 * i, new GateVerdict([]) { Checks = [new GateCheck("reward-model", 96, 0.9, 0.85, 0.4, true, 0, 5)] }, harness.Bus, Cancel);

        Assert.Null(await registry.GetPromotionPauseAsync(ModelKind.Policy, Cancel));
        Assert.Empty(harness.Published.Select<RewardHackingSuspected>(Cancel));
    }

    [Fact]
    public async Task A_restarted_learner_goes_on_with_the_window_it_had()
    {
        await harness.Start();
        await alarm.ObserveAsync(0.20, Verdict(0.70), harness.Bus, Cancel);
        await alarm.ObserveAsync(0.25, Verdict(0.72), harness.Bus, Cancel);

        var restarted = new RewardHackingAlarm(new AlarmOptions { Window = 3, MinRewardRise = 0.1, MaxEvaluatorChange = 0 }, registry, window,
            TimeProvider.System, NullLogger<RewardHackingAlarm>.Instance);
        await restarted.ObserveAsync(0.35, Verdict(0.67), harness.Bus, Cancel);

        Assert.Single(harness.Published.Select<RewardHackingSuspected>(Cancel));
        // The alarm cleared the window, so the next observation starts a new one.
        Assert.Single(await window.AppendAsync(ModelKind.Policy, new AlarmObservation(0, new Dictionary<string, double>()), 3, Cancel));
    }
}
