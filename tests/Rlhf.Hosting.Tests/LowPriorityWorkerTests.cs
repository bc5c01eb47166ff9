namespace Rlhf.Hosting.Tests;

public sealed class LowPriorityWorkerTests
{
    static void LinuxOnly() => Assert.SkipUnless(OperatingSystem.IsLinux(), "Per-thread nice values are a Linux feature.");

    [Fact]
    public async Task Low_work_runs_at_nice_10_and_threads_it_starts_inherit_it_while_the_caller_keeps_its_own()
    {
        LinuxOnly();
        var callerBefore = LowPriorityWorker.CurrentThreadNice();
        Assert.SkipWhen(callerBefore >= 10, $"This process already runs at nice {callerBefore}.");
        using var worker = new LowPriorityWorker("nice-probe", BatchPriority.Low);

        var (inside, child) = await worker.RunAsync(() =>
        {
            var childNice = -1;
            var spawned = new Thread(() => childNice = LowPriorityWorker.CurrentThreadNice()); // as an OpenMP worker is started
            spawned.Start();
            spawned.Join();
            return (LowPriorityWorker.CurrentThreadNice(), childNice);
        }, TestContext.Current.CancellationToken);

        Assert.Equal(10, worker.Nice);
        Assert.False(worker.Idle);
        Assert.Equal("nice 10", worker.Describe);
        Assert.Equal(10, LowPriorityWorker.ReadNice(worker.ThreadId));
        Assert.Equal(10, inside);
        Assert.Equal(10, child);
        Assert.Equal(callerBefore, LowPriorityWorker.CurrentThreadNice());
    }

    [Fact]
    public async Task Idle_work_runs_under_sched_idle_while_the_caller_keeps_its_own_policy()
    {
        // The threads LibTorch starts from it inherit the policy: TrainingPriorityTests (a .NET thread does not, the
        // runtime sets its policy when it starts one).
        LinuxOnly();
        using var worker = new LowPriorityWorker("idle-probe", BatchPriority.Idle);

        var inside = await worker.RunAsync(() => LowPriorityWorker.ParseIdle("/proc/thread-self/stat"), TestContext.Current.CancellationToken);

        Assert.True(worker.Idle);
        Assert.Equal("idle", worker.Describe);
        Assert.True(inside);
        Assert.False(LowPriorityWorker.ParseIdle("/proc/thread-self/stat"));
    }

    [Fact]
    public async Task Work_runs_in_order_on_one_thread_and_its_exception_is_the_callers()
    {
        using var worker = new LowPriorityWorker("order-probe", BatchPriority.Low);
        var threads = new System.Collections.Concurrent.ConcurrentBag<int>();
        var order = new List<int>();
        var all = Enumerable.Range(0, 20).Select(i => worker.RunAsync(() =>
        {
            threads.Add(Environment.CurrentManagedThreadId);
            lock (order)
                order.Add(i);
            return i;
        }, TestContext.Current.CancellationToken)).ToList();
        var failed = worker.RunAsync<int>(() => throw new InvalidDataException("bad round"), TestContext.Current.CancellationToken);

        Assert.Equal(Enumerable.Range(0, 20), await Task.WhenAll(all));
        Assert.Equal(Enumerable.Range(0, 20), order);
        Assert.Single(threads.Distinct());
        Assert.NotEqual(Environment.CurrentManagedThreadId, threads.First());
        Assert.Equal("bad round", (await Assert.ThrowsAsync<InvalidDataException>(() => failed)).Message);
    }

    [Fact]
    public async Task Work_canceled_before_it_starts_does_not_run_and_a_disposed_worker_takes_none()
    {
        var worker = new LowPriorityWorker("cancel-probe", BatchPriority.Normal);
        using var release = new ManualResetEventSlim();
        var blocking = worker.RunAsync(() => release.Wait(TimeSpan.FromSeconds(30)), TestContext.Current.CancellationToken);
        using var cancel = new CancellationTokenSource();
        var ran = false;
        var queued = worker.RunAsync(() => ran = true, cancel.Token);

        cancel.Cancel();
        release.Set();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.True(await blocking);
        Assert.False(ran);
        worker.Dispose();
        Assert.Throws<ObjectDisposedException>(Queue);
        void Queue() => _ = worker.RunAsync(() => 1, TestContext.Current.CancellationToken);
    }
}
