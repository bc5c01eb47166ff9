using System.Globalization;
using MassTransit;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;
using Rlhf.Storage;
using Rlhf.Training;

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
/// The learner's state machine. Every batch (of scored rollouts or of demonstrations) goes through one lock:
/// <list type="number">
/// <item>finish the effects of the last checkpoint if a crash or an outage interrupted them;</item>
/// <item>drop what was already trained on (claims), is gone from the rollout store, is invalid, was sampled at another
/// temperature, or is more than <see cref="LearnerOptions.MaxPolicyLag"/> promoted versions old;</item>
/// <item>run the PPO (or SFT) step, then the evaluation gate (finite metrics, KL to the reference within
/// <see cref="LearnerOptions.KlBound"/> on the evaluation prompts);</item>
/// <item>promote: store the weight blob, write a checkpoint whose effects are register + promote + claim + publish
/// <see cref="PolicyUpdated"/>; reject: reload the last checkpoint's weights and write a checkpoint whose effects are
/// claim + publish <see cref="PolicyRejected"/>;</item>
/// <item>carry out those effects and mark them done.</item>
/// </list>
/// The consumer returns (and the broker's messages are acknowledged) only after that, so a crash at any point either
/// leaves the messages unacknowledged (redelivered and trained on from the last checkpoint) or leaves a complete
/// checkpoint whose effects the next start or batch carries out; the claims then make the redelivered rollouts
/// duplicates. A failure before the checkpoint reloads the last checkpoint, so a retry never trains twice.
/// </summary>
public sealed class LearnerEngine(
    IOptions<LearnerOptions> options,
    IRolloutStore rollouts,
    IClaimStore claims,
    IModelRegistry registry,
    IBlobStore blobs,
    TimeProvider time,
    ILogger<LearnerEngine> logger) : IDisposable
{
    /// <summary>Format of the weight blobs: a full <c>model.safetensors</c> of the base architecture.</summary>
    public const string WeightsFormat = "safetensors";

    /// <summary>How long a "trained on" claim lives: well past the rollout store's TTL and any redelivery.</summary>
    static readonly TimeSpan ClaimTtl = TimeSpan.FromDays(30);

    readonly LearnerOptions settings = options.Value;
    readonly SemaphoreSlim gate = new(1, 1);
    readonly TaskCompletionSource ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Lock countersLock = new();
    CounterValues counters = new();
    LearnerModels? loaded;
    CheckpointDirectory? checkpoints;
    string? latest;
    LearnerState? state;
    SortedSet<long> registeredVersions = [];
    volatile bool training;
    volatile string? startupProblem;

    public static string TrainedKey(Guid rolloutId) => $"learner:trained:{rolloutId}";

    public static string DemonstrationKey(Guid feedbackId) => $"learner:demonstration:{feedbackId}";

    public LearnerPhase Phase => !settings.HasModel ? LearnerPhase.NoModel : ready.Task.IsCompletedSuccessfully ? LearnerPhase.Ready : LearnerPhase.Starting;

    /// <summary>
    /// Loads the models and, when the state directory holds one, the newest complete checkpoint. Local and
    /// synchronous: a broken base checkpoint or a corrupt trainer checkpoint stops the host at start.
    /// </summary>
    public void LoadLocal()
    {
        TorchRuntime.SetThreads(settings.Threads);
        var device = TorchRuntime.SelectDevice(settings.Device);
        loaded = LearnerModels.Load(settings, device);
        checkpoints = new CheckpointDirectory(settings.StateDirectory);
        checkpoints.DeleteScratch();
        latest = checkpoints.Latest();
        if (latest is null)
        {
            logger.LogInformation("No learner checkpoint in {StateDirectory}: starting from {ModelPath}", checkpoints.Root, settings.ModelPath);
            return;
        }

        loaded.Load(latest);
        state = CheckpointDirectory.Read(latest);
        counters = state.Counters;
        logger.LogInformation("Resumed learner checkpoint {Checkpoint}: policy {PolicyVersion}, PPO step {PpoSteps}, SFT step {SftSteps}",
            latest, state.PolicyVersion, state.PpoSteps, state.SftSteps);
    }

    /// <summary>
    /// The part of the start that needs the registry and the bus: the first checkpoint (bootstrap version, or the
    /// promoted version's weights), the effects an interrupted run left, and a rollback made while the learner was
    /// down. Retried by the caller until it succeeds; batches wait for it.
    /// </summary>
    public async Task ConnectAsync(IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (state is null)
                await CreateFirstCheckpointAsync(cancellationToken);
            await CompleteEffectsAsync(publisher, cancellationToken);
            registeredVersions = [.. (await registry.ListAsync(ModelKind.Policy, cancellationToken)).Select(v => v.Version)];
            if (await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken) is { } promoted && promoted.Version != State.PolicyVersion)
            {
                logger.LogWarning("The registry promotes policy {Promoted} but the checkpoint holds {PolicyVersion}: following the registry",
                    promoted.Version, State.PolicyVersion);
                await AdoptAsync(promoted.Version, promoted.ParentVersion, promoted.Blob, cancellationToken);
            }

            startupProblem = null;
            ready.TrySetResult();
            logger.LogInformation("Learner ready at policy {PolicyVersion}", State.PolicyVersion);
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            startupProblem = error.Message;
            throw;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Trains one PPO step on a batch of scored rollouts (see the class summary for the whole sequence).</summary>
    public async Task TrainOnRolloutsAsync(IReadOnlyList<RolloutScored> batch, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        await ready.Task.WaitAsync(cancellationToken);
        await gate.WaitAsync(cancellationToken);
        try
        {
            await CompleteEffectsAsync(publisher, cancellationToken);
            var usable = await PrepareRolloutsAsync(batch, cancellationToken);
            if (usable.Count == 0)
            {
                logger.LogInformation("Nothing to train on in a batch of {Count} scored rollouts", batch.Count);
                return;
            }

            var models = Models;
            training = true;
            PolicyMetrics metrics;
            string? reason;
            try
            {
                logger.LogInformation("PPO step on {Count} rollouts from policy {PolicyVersion}", usable.Count, State.PolicyVersion);
                var step = models.Ppo.Step(usable.Select(u => u.Rollout).ToList());
                if (!step.Applied)
                {
                    Restore();
                    Count(c => c with { SkippedSteps = c.SkippedSteps + 1 });
                    logger.LogWarning("PPO step skipped ({Reason}); weights unchanged", step.SkipReason);
                    return;
                }

                var evalKl = EvaluateKl(usable.Select(u => u.Rollout.PromptTokenIds));
                metrics = new PolicyMetrics(step.Kl, step.MeanScore, step.PolicyLoss, step.ValueLoss,
                    double.IsFinite(step.PtxLoss) ? step.PtxLoss : null, step.Beta, step.Rollouts, null, evalKl, null);
                reason = GateFailure(metrics, ("policy loss", step.PolicyLoss), ("value loss", step.ValueLoss), ("KL", step.Kl));
                logger.LogInformation(
                    "PPO step {Step}: KL {Kl:F4}, eval KL {EvalKl:F4}, mean score {Score:F4}, policy loss {PolicyLoss:F4}, value loss {ValueLoss:F4}",
                    step.Step, step.Kl, evalKl, step.MeanScore, step.PolicyLoss, step.ValueLoss);
            }
            catch
            {
                Restore();
                throw;
            }
            finally
            {
                training = false;
            }

            var used = usable.Count;
            await FinishCandidateAsync(metrics, reason, usable.Select(u => TrainedKey(u.Id)).ToList(),
                c => c with { RolloutsTrained = c.RolloutsTrained + used }, publisher, cancellationToken);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Runs SFT on a batch of demonstrations and publishes the result as a version of its own.</summary>
    public async Task TrainOnDemonstrationsAsync(IReadOnlyList<DemonstrationSubmitted> batch, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        await ready.Task.WaitAsync(cancellationToken);
        await gate.WaitAsync(cancellationToken);
        try
        {
            await CompleteEffectsAsync(publisher, cancellationToken);
            var usable = await PrepareDemonstrationsAsync(batch, cancellationToken);
            if (usable.Count == 0)
            {
                logger.LogInformation("Nothing to train on in a batch of {Count} demonstrations", batch.Count);
                return;
            }

            var models = Models;
            training = true;
            PolicyMetrics metrics;
            string? reason;
            try
            {
                var demonstrations = usable.Select(u => u.Demonstration).ToList();
                SftStepMetrics? last = null;
                for (var i = 0; i < settings.SftStepsPerBatch; i++)
                {
                    last = models.Sft.Step(demonstrations);
                    if (!last.Applied)
                    {
                        Restore();
                        Count(c => c with { SkippedSteps = c.SkippedSteps + 1 });
                        logger.LogWarning("SFT step skipped ({Reason}); weights unchanged", last.SkipReason);
                        return;
                    }
                }

                var evalKl = EvaluateKl(demonstrations.Select(d => d.PromptTokenIds));
                // An SFT version has no PPO losses or rewards: its NLL goes where PolicyMetrics keeps the PTX loss.
                metrics = new PolicyMetrics(evalKl, 0, 0, 0, last!.Loss, models.Ppo.KlCoef, 0, null, evalKl, null);
                reason = GateFailure(metrics, ("SFT loss", last.Loss));
                logger.LogInformation("SFT on {Count} demonstrations: loss {Loss:F4}, eval KL {EvalKl:F4}", demonstrations.Count, last.Loss, evalKl);
            }
            catch
            {
                Restore();
                throw;
            }
            finally
            {
                training = false;
            }

            var used = usable.Count;
            await FinishCandidateAsync(metrics, reason, usable.Select(u => DemonstrationKey(u.Id)).ToList(),
                c => c with { DemonstrationsTrained = c.DemonstrationsTrained + used }, publisher, cancellationToken);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>An operator promoted an earlier version (rollback): continue training from its weights.</summary>
    public async Task FollowRollbackAsync(long version, BlobReference blob, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        await ready.Task.WaitAsync(cancellationToken);
        await gate.WaitAsync(cancellationToken);
        try
        {
            await CompleteEffectsAsync(publisher, cancellationToken);
            if (version == State.PolicyVersion)
                return;
            var record = await registry.GetAsync(ModelKind.Policy, version, cancellationToken);
            if (record is null || !string.Equals(record.Blob.Sha256, blob.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                // Another deployment on the same broker (its registry is under another key prefix), or a stale event:
                // this deployment never registered these weights, so it does not follow them.
                logger.LogWarning("Rollback to policy {PolicyVersion} ignored: this deployment's registry has {Record} for that version, not blob {Sha256}",
                    version, record is null ? "no record" : $"blob {record.Blob.Sha256}", blob.Sha256);
                return;
            }

            logger.LogWarning("Rollback to policy {PolicyVersion}: the learner leaves policy {Current} and trains from it", version, State.PolicyVersion);
            await AdoptAsync(version, record?.ParentVersion, blob, cancellationToken);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>A consistent view for the status API.</summary>
    public LearnerSnapshot Snapshot()
    {
        lock (countersLock)
            return new LearnerSnapshot(Phase, startupProblem, state, counters, training, latest);
    }

    LearnerModels Models => loaded ?? throw new InvalidOperationException("The learner's models are not loaded.");

    LearnerState State => state ?? throw new InvalidOperationException("The learner has no checkpoint yet.");

    CheckpointDirectory Checkpoints => checkpoints ?? throw new InvalidOperationException("The learner's models are not loaded.");

    async Task CreateFirstCheckpointAsync(CancellationToken cancellationToken)
    {
        var promoted = await registry.GetPromotedAsync(ModelKind.Policy, cancellationToken);
        var now = time.GetUtcNow();
        if (promoted is null)
        {
            var version = Models.BaseVersion;
            var blob = await blobs.PutAsync(BlobName(version), Models.BaseWeights(), WeightsFormat, cancellationToken);
            var bootstrap = new PendingEffects(EffectKind.Bootstrap, version, null, blob, null, null, [], now);
            Commit(new LearnerState(0, version, null, 0, 0, Models.Ppo.KlCoef, null, null, bootstrap, counters, now));
            logger.LogInformation("Empty registry: the base weights become policy {PolicyVersion}", version);
            return;
        }

        await ImportAsync(promoted.Blob, cancellationToken);
        Commit(new LearnerState(0, promoted.Version, promoted.ParentVersion, 0, 0, Models.Ppo.KlCoef, null, null, null, counters, now));
        logger.LogInformation("No checkpoint: starting from the promoted policy {PolicyVersion}", promoted.Version);
    }

    async Task AdoptAsync(long version, long? parentVersion, BlobReference blob, CancellationToken cancellationToken)
    {
        try
        {
            await ImportAsync(blob, cancellationToken);
            Commit(State with
            {
                Sequence = State.Sequence + 1,
                PolicyVersion = version,
                ParentVersion = parentVersion,
                Effects = null,
                Counters = CountersNow(),
                WrittenAt = time.GetUtcNow(),
            });
        }
        catch
        {
            Restore();
            throw;
        }

        registeredVersions.Add(version);
        logger.LogInformation("Now training from policy {PolicyVersion}", version);
    }

    async Task ImportAsync(BlobReference blob, CancellationToken cancellationToken)
    {
        var weights = await blobs.GetAsync(blob, cancellationToken);
        var scratch = Checkpoints.Scratch("import");
        try
        {
            Models.ImportActorWeights(weights, scratch);
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    async Task FinishCandidateAsync(PolicyMetrics metrics, string? reason, IReadOnlyList<string> claimKeys, Func<CounterValues, CounterValues> countTrained,
        IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        var current = State;
        var now = time.GetUtcNow();
        LearnerState next;
        try
        {
            var candidate = await registry.NextVersionAsync(ModelKind.Policy, cancellationToken);
            if (reason is null)
            {
                var blob = await StoreActorWeightsAsync(candidate, cancellationToken);
                next = current with
                {
                    Sequence = current.Sequence + 1,
                    PolicyVersion = candidate,
                    ParentVersion = current.PolicyVersion,
                    PpoSteps = Models.Ppo.Steps,
                    SftSteps = Models.Sft.Steps,
                    KlCoefficient = Models.Ppo.KlCoef,
                    LastMetrics = metrics,
                    Effects = new PendingEffects(EffectKind.Promote, candidate, current.PolicyVersion, blob, metrics, null, claimKeys, now),
                    Counters = countTrained(CountersNow()) with { VersionsPublished = CountersNow().VersionsPublished + 1 },
                    WrittenAt = now,
                };
            }
            else
            {
                Restore();
                logger.LogWarning("Candidate policy {Candidate} rejected: {Reason}; keeping policy {PolicyVersion}", candidate, reason, current.PolicyVersion);
                next = current with
                {
                    Sequence = current.Sequence + 1,
                    LastRejection = new Rejection(candidate, current.PolicyVersion, reason, now),
                    Effects = new PendingEffects(EffectKind.Reject, candidate, current.PolicyVersion, null, Finite(metrics), reason, claimKeys, now),
                    Counters = CountersNow() with { CandidatesRejected = CountersNow().CandidatesRejected + 1 },
                    WrittenAt = now,
                };
            }

            Commit(next);
        }
        catch
        {
            Restore();
            throw;
        }

        await CompleteEffectsAsync(publisher, cancellationToken);
    }

    async Task<BlobReference> StoreActorWeightsAsync(long version, CancellationToken cancellationToken)
    {
        var scratch = Checkpoints.Scratch("export");
        byte[] weights;
        try
        {
            weights = Models.ExportActorWeights(scratch);
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }

        return await blobs.PutAsync(BlobName(version), weights, WeightsFormat, cancellationToken);
    }

    /// <summary>Writes <paramref name="next"/> as a new complete checkpoint and makes it the current state.</summary>
    void Commit(LearnerState next)
    {
        var directory = Checkpoints.Create(next.Sequence);
        Models.Save(directory);
        CheckpointDirectory.Commit(directory, next);
        Checkpoints.DeleteAllBut(directory);
        lock (countersLock)
        {
            latest = directory;
            state = next;
            counters = next.Counters;
        }
    }

    /// <summary>Puts actor, critic and optimizers back to the last checkpoint.</summary>
    void Restore()
    {
        if (latest is not null)
            Models.Load(latest);
    }

    /// <summary>Carries out the current checkpoint's effects unless they are marked done; each effect is idempotent.</summary>
    async Task CompleteEffectsAsync(IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        if (state?.Effects is not { } effects || latest is null || CheckpointDirectory.EffectsDone(latest))
            return;
        if (effects.Kind is EffectKind.Bootstrap or EffectKind.Promote)
        {
            var metrics = effects.Metrics is null ? new Dictionary<string, double>() : RegistryMetrics(effects.Metrics);
            await registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, effects.Version, effects.ParentVersion, effects.Blob!, metrics,
                effects.CreatedAt), cancellationToken);
            await registry.PromoteAsync(ModelKind.Policy, effects.Version, cancellationToken);
            registeredVersions.Add(effects.Version);
        }

        var claimValue = $"{effects.Kind.ToString().ToLowerInvariant()}:{effects.Version}";
        await Task.WhenAll(effects.ClaimKeys.Select(key => claims.TryClaimAsync(key, claimValue, ClaimTtl, cancellationToken)));

        if (effects.Kind == EffectKind.Promote)
        {
            await publisher.Publish(new PolicyUpdated(effects.Version, effects.ParentVersion ?? effects.Version, effects.Blob!, effects.Metrics!,
                false, effects.CreatedAt), cancellationToken);
            logger.LogInformation("Published policy {PolicyVersion} (parent {ParentVersion}, {Bytes} bytes, sha256 {Sha256})",
                effects.Version, effects.ParentVersion, effects.Blob!.Bytes, effects.Blob.Sha256);
        }
        else if (effects.Kind == EffectKind.Reject)
        {
            await publisher.Publish(new PolicyRejected(effects.Version, effects.ParentVersion ?? effects.Version, effects.Reason!, effects.Metrics!,
                effects.CreatedAt), cancellationToken);
        }

        CheckpointDirectory.MarkEffectsDone(latest);
    }

    async Task<IReadOnlyList<(Guid Id, Rollout Rollout)>> PrepareRolloutsAsync(IReadOnlyList<RolloutScored> batch, CancellationToken cancellationToken)
    {
        var distinct = batch.DistinctBy(s => s.RolloutId).ToList();
        var claimed = await Task.WhenAll(distinct.Select(s => claims.GetAsync(TrainedKey(s.RolloutId), cancellationToken)));
        var fresh = distinct.Where((_, i) => claimed[i] is null).ToList();
        var stored = await Task.WhenAll(fresh.Select(s => rollouts.GetAsync(s.RolloutId, cancellationToken)));

        var models = Models;
        var current = State.PolicyVersion;
        var usable = new List<(Guid, Rollout)>();
        int missing = 0, invalid = 0, offTemperature = 0, stale = 0;
        for (var i = 0; i < fresh.Count; i++)
        {
            var scored = fresh[i];
            if (stored[i] is not { } generated)
            {
                missing++;
                continue;
            }

            if (!IsValid(generated, scored.Reward, models.Config))
            {
                invalid++;
                continue;
            }

            // Greedy responses carry log-probs at T = 1 (see Sampler); other temperatures would make the PPO ratio wrong.
            var temperature = generated.Sampling.Temperature == 0 ? 1.0 : generated.Sampling.Temperature;
            if (Math.Abs(temperature - models.PpoOptions.Temperature) > 1e-6)
            {
                offTemperature++;
                continue;
            }

            if (Lag(generated.PolicyVersion, current) is not { } lag || lag > settings.MaxPolicyLag)
            {
                stale++;
                continue;
            }

            // The trainer counts versions in its own steps; giving it the lag in promoted versions keeps its staleness
            // check (same bound) in agreement with this one.
            usable.Add((scored.RolloutId, new Rollout(generated.PromptTokenIds, generated.ResponseTokenIds, generated.BehaviourLogProbs,
                scored.Reward, models.Ppo.PolicyVersion - lag)));
        }

        var duplicates = batch.Count - fresh.Count;
        Count(c => c with
        {
            RolloutBatches = c.RolloutBatches + 1,
            DuplicateRollouts = c.DuplicateRollouts + duplicates,
            MissingRollouts = c.MissingRollouts + missing,
            InvalidRollouts = c.InvalidRollouts + invalid,
            OffTemperatureRollouts = c.OffTemperatureRollouts + offTemperature,
            StaleRollouts = c.StaleRollouts + stale,
        });
        if (duplicates + missing + invalid + offTemperature + stale > 0)
        {
            logger.LogInformation(
                "Batch of {Count} rollouts: {Duplicates} already trained on or repeated, {Missing} gone from the store, {Invalid} invalid, " +
                "{OffTemperature} sampled at another temperature, {Stale} stale",
                batch.Count, duplicates, missing, invalid, offTemperature, stale);
        }

        return usable;
    }

    async Task<IReadOnlyList<(Guid Id, Demonstration Demonstration)>> PrepareDemonstrationsAsync(IReadOnlyList<DemonstrationSubmitted> batch,
        CancellationToken cancellationToken)
    {
        var distinct = batch.DistinctBy(d => d.FeedbackId).ToList();
        var claimed = await Task.WhenAll(distinct.Select(d => claims.GetAsync(DemonstrationKey(d.FeedbackId), cancellationToken)));
        var fresh = distinct.Where((_, i) => claimed[i] is null).ToList();

        var models = Models;
        var usable = new List<(Guid, Demonstration)>();
        var invalid = 0;
        foreach (var submitted in fresh)
        {
            if (Tokenize(submitted, models) is { } demonstration)
                usable.Add((submitted.FeedbackId, demonstration));
            else
                invalid++;
        }

        var duplicates = batch.Count - fresh.Count;
        Count(c => c with
        {
            DemonstrationBatches = c.DemonstrationBatches + 1,
            DuplicateDemonstrations = c.DuplicateDemonstrations + duplicates,
            InvalidDemonstrations = c.InvalidDemonstrations + invalid,
        });
        return usable;
    }

    /// <summary>Prompt: the chat rendered with the assistant header; response: the ideal answer plus the end-of-turn token.</summary>
    Demonstration? Tokenize(DemonstrationSubmitted submitted, LearnerModels models)
    {
        if (submitted.Messages is not { Count: > 0 } || string.IsNullOrEmpty(submitted.IdealResponse))
            return null;
        string prompt;
        try
        {
            prompt = models.Template.Render(submitted.Messages.Select(m => new ChatTurn(m.Role, m.Content)).ToList(), addGenerationPrompt: true);
        }
        catch (ArgumentException error)
        {
            logger.LogWarning("Demonstration {FeedbackId} skipped: {Problem}", submitted.FeedbackId, error.Message);
            return null;
        }

        var promptIds = models.Tokenizer.Encode(prompt);
        var responseIds = models.Tokenizer.Encode(submitted.IdealResponse).Append(models.Template.EndOfTurnId(models.Tokenizer)).ToList();
        if (promptIds.Count + responseIds.Count > models.Config.MaxPositionEmbeddings)
        {
            logger.LogWarning("Demonstration {FeedbackId} skipped: {Tokens} tokens exceed the model's context of {Context}",
                submitted.FeedbackId, promptIds.Count + responseIds.Count, models.Config.MaxPositionEmbeddings);
            return null;
        }

        return new Demonstration(promptIds, responseIds);
    }

    static bool IsValid(RolloutGenerated generated, float reward, ModelConfig config) =>
        float.IsFinite(reward)
        && generated.PromptTokenIds is { Count: > 0 }
        && generated.ResponseTokenIds is { Count: > 0 }
        && generated.BehaviourLogProbs?.Count == generated.ResponseTokenIds.Count
        && generated.PromptTokenIds.Count + generated.ResponseTokenIds.Count <= config.MaxPositionEmbeddings
        && generated.PromptTokenIds.Concat(generated.ResponseTokenIds).All(id => id >= 0 && id < config.VocabSize)
        && generated.BehaviourLogProbs.All(float.IsFinite)
        && generated.Sampling is not null;

    /// <summary>Promoted versions after <paramref name="version"/> up to the learner's; null for a version the learner has not reached.</summary>
    int? Lag(long version, long current)
    {
        if (version > current)
            return null;
        return version == current ? 0 : registeredVersions.GetViewBetween(version + 1, current).Count;
    }

    double EvaluateKl(IEnumerable<IReadOnlyList<int>> batchPrompts)
    {
        var models = Models;
        var prompts = settings.EvalPrompts.Count > 0
            ? settings.EvalPrompts.Select(p => models.Tokenizer.Encode(models.Template.Render([new ChatTurn("user", p)], addGenerationPrompt: true)))
            : batchPrompts.DistinctBy(p => string.Join(',', p));
        return PolicyEvaluation.KlToReference(models.Actor, models.Reference, prompts.Take(settings.EvalSamples).ToList(), models.StopTokenIds,
            models.Tokenizer.PadId, settings.EvalMaxNewTokens, models.PpoOptions.Temperature, settings.Seed);
    }

    string? GateFailure(PolicyMetrics metrics, params (string Name, double Value)[] trainingMetrics)
    {
        foreach (var (name, value) in trainingMetrics)
        {
            if (!double.IsFinite(value))
                return $"{name} is {value.ToString(CultureInfo.InvariantCulture)}";
        }

        var evalKl = metrics.EvalKl ?? double.NaN;
        if (!double.IsFinite(evalKl))
            return $"eval KL is {evalKl.ToString(CultureInfo.InvariantCulture)}";
        if (evalKl > settings.KlBound)
            return string.Create(CultureInfo.InvariantCulture, $"eval KL {evalKl:F4} nats exceeds bound {settings.KlBound:F4}");
        return null;
    }

    /// <summary>Events and registry records carry finite numbers only (JSON has no NaN); a non-finite metric reads 0 and the reason names it.</summary>
    static PolicyMetrics Finite(PolicyMetrics m)
    {
        static double F(double value) => double.IsFinite(value) ? value : 0;
        static double? N(double? value) => value is { } v && double.IsFinite(v) ? v : null;
        return new PolicyMetrics(F(m.KlToReference), F(m.MeanReward), F(m.PolicyLoss), F(m.ValueLoss), N(m.PtxLoss), F(m.KlCoefficient),
            m.RolloutsUsed, N(m.EvalMeanReward), N(m.EvalKl), N(m.EvalTaskAccuracy));
    }

    static Dictionary<string, double> RegistryMetrics(PolicyMetrics m)
    {
        var metrics = new Dictionary<string, double>
        {
            ["kl_to_reference"] = m.KlToReference,
            ["mean_reward"] = m.MeanReward,
            ["policy_loss"] = m.PolicyLoss,
            ["value_loss"] = m.ValueLoss,
            ["kl_coefficient"] = m.KlCoefficient,
            ["rollouts_used"] = m.RolloutsUsed,
        };
        if (m.PtxLoss is { } ptx)
            metrics["ptx_loss"] = ptx;
        if (m.EvalKl is { } evalKl)
            metrics["eval_kl"] = evalKl;
        return metrics;
    }

    static string BlobName(long version) => $"policy/{version.ToString(CultureInfo.InvariantCulture)}";

    CounterValues CountersNow()
    {
        lock (countersLock)
            return counters;
    }

    void Count(Func<CounterValues, CounterValues> update)
    {
        lock (countersLock)
            counters = update(counters);
    }

    public void Dispose()
    {
        loaded?.Dispose();
        gate.Dispose();
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
