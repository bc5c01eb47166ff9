using Rlhf.Learner.Gate;
using Rlhf.Learner.Privacy;
using Rlhf.Learner.Release;
using Rlhf.Modeling;
using Rlhf.Storage;

namespace Rlhf.Learner.Training;

/// <summary>The learner's parts once its models are loaded, wired together. Built by <see cref="LearnerEngine.LoadLocal"/>.</summary>
sealed class LearnerParts : IDisposable
{
    readonly LearnerModels models;
    readonly RewardModelEvaluator rewardModel;

    LearnerParts(LearnerModels models, RewardModelEvaluator rewardModel, LearnerLedger ledger, EffectsOutbox outbox, PolicyAdoption adoption, TrainingSequencer sequencer,
        PpoStep ppo, SftStep sft, CanaryRelease release)
    {
        Release = release;
        this.models = models;
        this.rewardModel = rewardModel;
        Ledger = ledger;
        Outbox = outbox;
        Adoption = adoption;
        Sequencer = sequencer;
        Ppo = ppo;
        Sft = sft;
    }

    public LearnerLedger Ledger { get; }
    public EffectsOutbox Outbox { get; }
    public PolicyAdoption Adoption { get; }
    public TrainingSequencer Sequencer { get; }
    public PpoStep Ppo { get; }
    public SftStep Sft { get; }
    public CanaryRelease Release { get; }

    /// <summary>Loads the models on the configured device and resumes the newest complete checkpoint, if any.</summary>
    public static LearnerParts Load(LearnerOptions settings, IRolloutStore rollouts, IClaimStore claims, IModelRegistry registry, IBlobStore blobs,
        ILiveFeedbackStore liveFeedback, IAlarmWindowStore alarmWindow, IPolicyGate gate, IReadOnlyList<IResponseEvaluator> evaluators, ErasureGuard erasures,
        TimeProvider time, ILoggerFactory loggers)
    {
        TorchRuntime.SetThreads(settings.Threads);
        var models = LearnerModels.Load(settings, TorchRuntime.SelectDevice(settings.Device));
        var ledger = new LearnerLedger(models, new CheckpointDirectory(settings.StateDirectory), loggers.CreateLogger<LearnerLedger>());
        ledger.Resume();
        var outbox = new EffectsOutbox(ledger, registry, claims, settings.Canary, loggers.CreateLogger<EffectsOutbox>());
        var committer = new VersionCommitter(models, ledger, outbox, registry, blobs, settings.Gate.AfterRejection, settings.Canary.Enabled, time,
            loggers.CreateLogger<VersionCommitter>());
        var evaluator = new CandidateEvaluator(models, settings);
        var rewardModel = new RewardModelEvaluator(models.ModelPath, models.Tokenizer.PadId, models.Actor.Device, registry, blobs,
            loggers.CreateLogger<RewardModelEvaluator>());
        var prompts = settings.Gate.EvaluationPrompts();
        var comparison = prompts.Count == 0
            ? null
            : new ChampionComparison(models, settings.Gate, prompts, registry, blobs,
                [.. settings.Gate.RewardModel ? [rewardModel] : Array.Empty<IResponseEvaluator>(), .. evaluators], loggers.CreateLogger<ChampionComparison>());
        if (comparison is null)
            loggers.CreateLogger<LearnerParts>().LogWarning(
                "No Learner:Gate:Prompts or PromptsFile: candidates are checked for finite weights and the KL bound only, not compared with the champion");
        var adoption = new PolicyAdoption(models, ledger, registry, blobs, time, loggers.CreateLogger<PolicyAdoption>());
        return new LearnerParts(
            models,
            rewardModel,
            ledger,
            outbox,
            adoption,
            new TrainingSequencer(committer, new ReleaseGate(models.Actor, gate, comparison), loggers.CreateLogger<TrainingSequencer>(),
                new RewardHackingAlarm(settings.Alarm, registry, alarmWindow, time, loggers.CreateLogger<RewardHackingAlarm>())),
            new PpoStep(models, ledger, claims, rollouts, evaluator, settings.MaxPolicyLag, erasures, loggers.CreateLogger<PpoStep>()),
            new SftStep(models, claims, new DemonstrationTokenizer(models.Template, models.Tokenizer, models.Config.MaxPositionEmbeddings), evaluator,
                settings.SftStepsPerBatch, erasures, loggers.CreateLogger<SftStep>()),
            new CanaryRelease(ledger, outbox, adoption, registry, liveFeedback, time, loggers.CreateLogger<CanaryRelease>()));
    }

    public void Dispose()
    {
        rewardModel.Dispose();
        models.Dispose();
    }
}
