using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Learner.Gate;
using Rlhf.Learner.Privacy;
using Rlhf.Learner.Release;
using Rlhf.Storage;

namespace Rlhf.Learner.Training;

/// <summary>Where the learner is in its life.</summary>
public enum LearnerPhase
{
    /// <summary>No <c>Learner:ModelPath</c>: nothing to train, nothing consumed.</summary>
    NoModel,

    /// <summary>Loading models and checkpoint, or waiting for the model registry.</summary>
    Starting,

    Ready,
}

/// <summary>
/// The learner's entry point for the host, the consumers and the status API. Everything that changes the models or
/// the checkpoint runs under one lock, one at a time: the start (<see cref="ConnectAsync"/>), each batch (through the
/// <see cref="TrainingSequencer"/>: PPO on scored rollouts, SFT on demonstrations) and a rollback. Batches wait
/// until the start has succeeded.
/// </summary>
/// <remarks>
/// The consumer returns (and the broker's messages are acknowledged) only after a batch's checkpoint and its effects,
/// so a crash at any point either leaves the messages unacknowledged (redelivered and trained on from the last
/// checkpoint) or leaves a complete checkpoint whose effects the next start or batch carries out; the claims then make
/// the redelivered rollouts duplicates.
/// </remarks>
public sealed class LearnerEngine(
    IOptions<LearnerOptions> options,
    IRolloutStore rollouts,
    IClaimStore claims,
    IModelRegistry registry,
    IBlobStore blobs,
    ILiveFeedbackStore liveFeedback,
    IAlarmWindowStore alarmWindow,
    IPolicyGate gate,
    IEnumerable<IResponseEvaluator> evaluators,
    ErasureGuard erasures,
    TimeProvider time,
    ILoggerFactory loggers) : IDisposable
{
    readonly LearnerOptions settings = options.Value;
    readonly ILogger logger = loggers.CreateLogger<LearnerEngine>();
    readonly SemaphoreSlim exclusive = new(1, 1);
    readonly CancellationTokenSource disposing = new(); // work still waiting for the lock gives up when the engine goes
    readonly TaskCompletionSource ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    LearnerParts? loaded;
    volatile string? startupProblem;

    public LearnerPhase Phase => !settings.HasModel ? LearnerPhase.NoModel : ready.Task.IsCompletedSuccessfully ? LearnerPhase.Ready : LearnerPhase.Starting;

    /// <summary>
    /// Loads the models and, when the state directory holds one, the newest complete checkpoint. Local and
    /// synchronous: a broken base checkpoint or a corrupt trainer checkpoint stops the host at start.
    /// </summary>
    public void LoadLocal() => loaded = LearnerParts.Load(settings, rollouts, claims, registry, blobs, liveFeedback, alarmWindow, gate, [.. evaluators], erasures, time, loggers);

    /// <summary>
    /// The part of the start that needs the registry and the bus: the first checkpoint (bootstrap version, or the
    /// promoted version's weights), the effects an interrupted run left, and a rollback made while the learner was
    /// down. Retried by the caller until it succeeds; batches wait for it.
    /// </summary>
    public async Task ConnectAsync(IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        using (var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, disposing.Token))
            await exclusive.WaitAsync(waiting.Token);
        try
        {
            if (Parts.Ledger.Current is null)
                await Parts.Adoption.CreateFirstCheckpointAsync(cancellationToken);
            await Parts.Outbox.CompleteAsync(publisher, cancellationToken);
            await Parts.Release.FollowRegistryAsync(publisher, cancellationToken);
            await Parts.Adoption.FollowRegistryAsync(cancellationToken);

            startupProblem = null;
            ready.TrySetResult();
            logger.LogInformation("Learner ready at policy {PolicyVersion}", Parts.Ledger.State.PolicyVersion);
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            startupProblem = error.Message;
            throw;
        }
        finally
        {
            exclusive.Release();
        }
    }

    /// <summary>Trains one PPO step on a batch of scored rollouts.</summary>
    public Task TrainOnRolloutsAsync(IReadOnlyList<RolloutScored> batch, IPublishEndpoint publisher, CancellationToken cancellationToken) =>
        WhenReadyAsync(parts => parts.Sequencer.RunAsync(parts.Ppo, batch, publisher, cancellationToken), cancellationToken);

    /// <summary>Runs SFT on a batch of demonstrations and publishes the result as a version of its own.</summary>
    public Task TrainOnDemonstrationsAsync(IReadOnlyList<DemonstrationSubmitted> batch, IPublishEndpoint publisher, CancellationToken cancellationToken) =>
        WhenReadyAsync(parts => parts.Sequencer.RunAsync(parts.Sft, batch, publisher, cancellationToken), cancellationToken);

    /// <summary>An operator promoted an earlier version (rollback): continue training from its weights.</summary>
    public Task FollowRollbackAsync(long version, BlobReference blob, IPublishEndpoint publisher, CancellationToken cancellationToken) =>
        WhenReadyAsync(async parts =>
        {
            await parts.Outbox.CompleteAsync(publisher, cancellationToken);
            await parts.Adoption.FollowRollbackAsync(version, blob, cancellationToken);
        }, cancellationToken);

    /// <summary>The canary the learner started and has not concluded, or null.</summary>
    public CanaryState? LiveCanary => loaded?.Release.Live;

    /// <summary>Ends canary <paramref name="version"/> (if it is still the live one) with the live comparison's verdict.</summary>
    public Task ConcludeCanaryAsync(long version, CanaryOutcome outcome, string reason, IPublishEndpoint publisher, CancellationToken cancellationToken) =>
        WhenReadyAsync(parts => parts.Release.ConcludeAsync(version, outcome, reason, publish: true, publisher, cancellationToken), cancellationToken);

    /// <summary>A canary ended or a version was promoted outside the learner: follow the registry.</summary>
    public Task FollowRegistryAsync(IPublishEndpoint publisher, CancellationToken cancellationToken) =>
        WhenReadyAsync(async parts =>
        {
            await parts.Outbox.CompleteAsync(publisher, cancellationToken);
            await parts.Release.FollowRegistryAsync(publisher, cancellationToken);
            await parts.Adoption.FollowRegistryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>A consistent view for the status API.</summary>
    public LearnerSnapshot Snapshot()
    {
        var (state, counters, checkpoint) = loaded?.Ledger.Read() ?? (null, new CounterValues(), null);
        return new LearnerSnapshot(Phase, startupProblem, state, counters, loaded?.Sequencer.Training ?? false, checkpoint);
    }

    LearnerParts Parts => loaded ?? throw new InvalidOperationException("The learner's models are not loaded.");

    async Task WhenReadyAsync(Func<LearnerParts, Task> work, CancellationToken cancellationToken)
    {
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, disposing.Token);
        await ready.Task.WaitAsync(waiting.Token);
        await exclusive.WaitAsync(waiting.Token);
        try
        {
            await work(Parts);
        }
        finally
        {
            exclusive.Release();
        }
    }

    /// <summary>
    /// Work waiting for the lock gives up (a host disposed before its bus stopped, as tests do, disposed this engine while
    /// a consumer waited: the lock was never released and the bus's stop waited for that consumer forever); work
    /// holding it gets up to 30 s to finish before the models are freed under it (past that they are left to the
    /// process's end). The lock itself is not disposed: a step still running releases it afterwards.
    /// </summary>
    public void Dispose()
    {
        if (disposing.IsCancellationRequested)
            return;
        disposing.Cancel();
        if (exclusive.Wait(TimeSpan.FromSeconds(30)))
            loaded?.Dispose();
        else
            logger.LogWarning("A learner step still held the lock 30 s into disposal; its models are left to the process's end");
    }
}

/// <summary>What the status API shows, read under one lock.</summary>
public sealed record LearnerSnapshot(
    LearnerPhase Phase,
    string? StartupProblem,
    LearnerState? State,
    CounterValues Counters,
    bool Training,
    string? Checkpoint);
