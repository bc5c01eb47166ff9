namespace Rlhf.Learner.Training;

/// <summary>
/// The learner's current checkpoint and what goes with it: its state (policy version, steps, pending effects), the
/// counters since, and the policy versions the registry holds. Writing a checkpoint and going back to the last one
/// happen here. Reads for the status API take a lock; everything else runs under the engine's batch lock.
/// </summary>
public sealed class LearnerLedger(LearnerModels models, CheckpointDirectory checkpoints, ILogger<LearnerLedger> logger)
{
    readonly Lock readLock = new();
    LearnerState? state;
    string? latest;
    CounterValues counters = new();
    SortedSet<long> registeredVersions = [];

    /// <summary>The current state, or null before the first checkpoint exists.</summary>
    public LearnerState? Current => state;

    public LearnerState State => state ?? throw new InvalidOperationException("The learner has no checkpoint yet.");

    /// <summary>Directory of the current checkpoint, or null before the first.</summary>
    public string? Latest => latest;

    public CheckpointDirectory Checkpoints => checkpoints;

    /// <summary>Policy versions in the model registry (those this learner registered included).</summary>
    public IReadOnlyCollection<long> RegisteredVersions => registeredVersions;

    public CounterValues Counters
    {
        get
        {
            lock (readLock)
                return counters;
        }
    }

    /// <summary>Loads the newest complete checkpoint into the models, if there is one.</summary>
    public void Resume()
    {
        checkpoints.DeleteScratch();
        latest = checkpoints.Latest();
        if (latest is null)
        {
            logger.LogInformation("No learner checkpoint in {StateDirectory}: starting from {ModelPath}", checkpoints.Root, models.ModelPath);
            return;
        }

        models.Load(latest);
        state = CheckpointDirectory.Read(latest);
        counters = state.Counters;
        logger.LogInformation("Resumed learner checkpoint {Checkpoint}: policy {PolicyVersion}, PPO step {PpoSteps}, SFT step {SftSteps}",
            latest, state.PolicyVersion, state.PpoSteps, state.SftSteps);
    }

    /// <summary>Writes <paramref name="next"/> as a new complete checkpoint and makes it the current state.</summary>
    public void Commit(LearnerState next)
    {
        var directory = checkpoints.Create(next.Sequence);
        models.Save(directory);
        CheckpointDirectory.Commit(directory, next);
        checkpoints.DeleteAllBut(directory);
        lock (readLock)
        {
            latest = directory;
            state = next;
            counters = next.Counters;
        }
    }

    /// <summary>Puts actor, critic and optimizers back to the last checkpoint.</summary>
    public void Restore()
    {
        if (latest is not null)
            models.Load(latest);
    }

    public void Count(Func<CounterValues, CounterValues> update)
    {
        lock (readLock)
            counters = update(counters);
    }

    public void SetRegisteredVersions(IEnumerable<long> versions) => registeredVersions = [.. versions];

    public void AddRegisteredVersion(long version) => registeredVersions.Add(version);

    /// <summary>State, counters and checkpoint directory, read together.</summary>
    public (LearnerState? State, CounterValues Counters, string? Checkpoint) Read()
    {
        lock (readLock)
            return (state, counters, latest);
    }
}
