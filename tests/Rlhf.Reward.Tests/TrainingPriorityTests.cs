using System.Net.Http.Json;
using System.Text.Json;
using Rlhf.Contracts;
using Rlhf.Hosting;
using Rlhf.Testing;
using static TorchSharp.torch;

namespace Rlhf.Reward.Tests;

/// <summary>Rounds train on a thread of lower priority than the journal and scoring, and LibTorch's threads follow it.</summary>
public sealed class TrainingPriorityTests
{
    static void LinuxOnly() => Assert.SkipUnless(OperatingSystem.IsLinux(), "Per-thread nice values are a Linux feature.");

    /// <summary>Threads of this process with this name under SCHED_IDLE (Linux gives a new thread its creator's name and policy).</summary>
    static int IdleThreads(string name) => Threads(name, stat => LowPriorityWorker.ParseIdle(stat));

    static int Threads(string name, Func<string, bool> match) => Directory.GetDirectories("/proc/self/task").Count(task =>
    {
        try
        {
            return File.ReadAllText(Path.Combine(task, "comm")).Trim() == name && match(Path.Combine(task, "stat"));
        }
        catch (IOException)
        {
            return false; // the thread ended while listed
        }
    });

    [Fact]
    public async Task A_round_trains_on_the_training_thread_at_the_configured_priority_and_status_says_so()
    {
        LinuxOnly();
        Assert.SkipWhen(LowPriorityWorker.CurrentThreadNice() >= 10, "This process already runs at nice 10 or more.");
        // Low, not the default Idle: other reward tests in this process train on idle threads of the same name.
        await using var host = new RewardTestHost(new Dictionary<string, string?> { ["Reward:TrainEvery"] = "1", ["Reward:TrainingPriority"] = "Low" });
        var before = Threads("rlhf-rm-train", stat => LowPriorityWorker.ParseNice(stat) == 10);
        var status = await host.Client.GetFromJsonAsync<JsonElement>("/v1/reward/status", TestContext.Current.CancellationToken);
        Assert.Equal(JsonValueKind.Null, status.GetProperty("training_priority").ValueKind);
        var group = await host.SeedGroupAsync("good", "bad");

        await host.Bus.Publish(new RankingSubmitted(Guid.NewGuid(), group[0].GroupId, [[group[0].RolloutId], [group[1].RolloutId]], false, "r", "tests",
            DateTimeOffset.UtcNow), TestContext.Current.CancellationToken);
        await host.Published.WaitForAsync<RewardModelUpdated>(u => u.RewardModelVersion == 1);

        // The thread starts with the first round (a scorer never trains, so it never has one).
        Assert.True(Threads("rlhf-rm-train", stat => LowPriorityWorker.ParseNice(stat) == 10) > before);
        status = await host.Client.GetFromJsonAsync<JsonElement>("/v1/reward/status", TestContext.Current.CancellationToken);
        Assert.Equal("nice 10", status.GetProperty("training_priority").GetString());
    }

    [Fact]
    public async Task LibTorch_threads_started_by_an_idle_worker_run_idle_too()
    {
        LinuxOnly();
        Assert.SkipWhen(get_num_threads() < 2, "LibTorch runs single-threaded here: no OpenMP worker to start.");
        using var worker = new LowPriorityWorker("omp-idle-probe", BatchPriority.Idle);

        // Large enough for LibTorch to split over its OpenMP threads, which libgomp starts from the calling thread.
        var sum = await worker.RunAsync(() =>
        {
            using var a = ones(512, 512);
            using var product = a.mm(a);
            return product.sum().item<float>();
        }, TestContext.Current.CancellationToken);

        Assert.Equal(512f * 512 * 512, sum);
        Assert.True(IdleThreads("omp-idle-probe") >= 2, $"{IdleThreads("omp-idle-probe")} idle thread(s)");
    }
}
