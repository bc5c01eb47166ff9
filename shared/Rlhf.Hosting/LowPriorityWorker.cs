using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Rlhf.Hosting;

/// <summary>
/// One dedicated thread that runs batch work (model training) below the other threads of its process
/// (<see cref="BatchPriority"/>: Linux <c>SCHED_IDLE</c> or nice 10), so the latency-critical work beside it (a journal
/// write, scoring, a request) takes the CPU first and the batch work gets what is left. The priority is set on the thread
/// before it runs anything, and Linux gives every thread a thread creates its creator's policy and nice value: LibTorch's
/// OpenMP workers, which the first parallel op of this thread starts (libgomp keeps one worker pool per calling thread),
/// run at the same priority. Without contention the work runs as fast as on any other thread. Work items run one at a
/// time, in order.
/// <para>
/// The kernel weighs these priorities only against threads of the same CPU group: with autogroup (most distributions)
/// that is the process's session, in a container its cgroup. Against another session's processes (a broker, a
/// feedback service started elsewhere) the process competes as a whole: see <see cref="CpuSession"/>. Only Linux has
/// per-thread priorities; elsewhere the thread runs at normal priority and <see cref="Describe"/> says so. Lowering
/// a priority needs no privilege.
/// </para>
/// </summary>
public sealed class LowPriorityWorker : IDisposable
{
    readonly BlockingCollection<Action> work = new();
    readonly Thread thread;
    readonly TaskCompletionSource started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly BatchPriority requested;

    /// <param name="name">Thread name (Linux shows the first 15 characters, and the OpenMP workers it starts inherit it).</param>
    /// <param name="priority">How the work yields to the process's other threads.</param>
    public LowPriorityWorker(string name, BatchPriority priority)
    {
        requested = priority;
        thread = new Thread(Run) { Name = name, IsBackground = true };
        thread.Start();
        started.Task.GetAwaiter().GetResult();
    }

    /// <summary>The nice value the thread runs at, as Linux reports it (0 where none could be read; the process's own when that was higher).</summary>
    public int Nice { get; private set; }

    /// <summary>Whether the thread runs under <c>SCHED_IDLE</c>, as Linux reports it.</summary>
    public bool Idle { get; private set; }

    /// <summary>The thread's Linux thread id (<c>/proc/self/task/{id}</c>); 0 elsewhere.</summary>
    public int ThreadId { get; private set; }

    /// <summary>Runs <paramref name="function"/> on the worker thread after the work queued before it; its exception is the task's.</summary>
    public Task<T> RunAsync<T>(Func<T> function, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Item()
        {
            if (cancellationToken.IsCancellationRequested)
            {
                done.TrySetCanceled(cancellationToken);
                return;
            }

            try
            {
                done.TrySetResult(function());
            }
            catch (OperationCanceledException canceled) when (cancellationToken.IsCancellationRequested)
            {
                done.TrySetCanceled(canceled.CancellationToken);
            }
            catch (Exception error)
            {
                done.TrySetException(error);
            }
        }

        try
        {
            work.Add(Item, CancellationToken.None);
        }
        catch (Exception error) when (error is InvalidOperationException or ObjectDisposedException)
        {
            throw new ObjectDisposedException(nameof(LowPriorityWorker));
        }

        return done.Task;
    }

    void Run()
    {
        try
        {
            if (OperatingSystem.IsLinux() && GlibcMalloc.Exports("gettid"))
            {
                ThreadId = GetThreadId();
                Apply(ThreadId, requested);
                Nice = ReadNice(ThreadId);
                Idle = ReadField(ThreadId, PolicyField) == SchedIdle;
            }
        }
        catch (Exception error) when (error is DllNotFoundException or EntryPointNotFoundException or IOException)
        {
            // runs at normal priority; Nice and Idle say so
        }
        finally
        {
            started.TrySetResult();
        }

        foreach (var item in work.GetConsumingEnumerable())
            item();
    }

    static void Apply(int threadId, BatchPriority priority)
    {
        switch (priority)
        {
            // A process already started at a lower priority (nice 15) keeps it: lowering nice needs privilege.
            case BatchPriority.Low when ReadNice(threadId) < LowNice:
                SetPriority(ProcessScope, threadId, LowNice);
                break;
            case BatchPriority.Idle:
                var none = 0; // sched_param.sched_priority: 0 for SCHED_IDLE
                SetScheduler(threadId, SchedIdle, ref none);
                break;
        }
    }

    /// <summary>The nice value of thread <paramref name="threadId"/> of this process, as the kernel holds it.</summary>
    public static int ReadNice(int threadId) => ReadField(threadId, NiceField);

    static int ReadField(int threadId, int field) => ParseField($"/proc/self/task/{threadId}/stat", field);

    /// <summary>The calling thread's nice value (Linux only).</summary>
    public static int CurrentThreadNice() => ParseNice("/proc/thread-self/stat");

    /// <summary>The nice value (field 19) of a <c>stat</c> file of <c>/proc</c>.</summary>
    public static int ParseNice(string statPath) => ParseField(statPath, NiceField);

    /// <summary>Whether a <c>stat</c> file of <c>/proc</c> names <c>SCHED_IDLE</c> as its scheduling policy (field 41).</summary>
    public static bool ParseIdle(string statPath) => ParseField(statPath, PolicyField) == SchedIdle;

    static int ParseField(string statPath, int field)
    {
        var stat = File.ReadAllText(statPath);
        // The name (field 2) is in parentheses and may hold spaces: count fields after its closing parenthesis.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[field - 3], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>What the thread runs at, for logs and status: <c>idle</c>, <c>nice N</c> or <c>normal</c>.</summary>
    public string Describe => Idle ? "idle" : Nice > 0 ? $"nice {Nice}" : "normal";

    /// <summary>Lets the queued work finish and ends the thread.</summary>
    public void Dispose()
    {
        if (work.IsAddingCompleted)
            return;
        work.CompleteAdding();
        if (Thread.CurrentThread != thread)
            thread.Join();
        work.Dispose();
    }

    const int ProcessScope = 0; // PRIO_PROCESS: with a thread id, that one thread
    const int SchedIdle = 5;
    const int LowNice = 10;
    const int NiceField = 19;
    const int PolicyField = 41;

    [DllImport("libc.so.6", EntryPoint = "sched_setscheduler", SetLastError = true)]
    static extern int SetScheduler(int pid, int policy, ref int priority);

    [DllImport("libc.so.6", EntryPoint = "gettid")]
    static extern int GetThreadId();

    [DllImport("libc.so.6", EntryPoint = "setpriority", SetLastError = true)]
    static extern int SetPriority(int which, int who, int priority);
}
