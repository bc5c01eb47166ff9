using System.ComponentModel.DataAnnotations;

namespace Rlhf.Reward;

/// <summary>Configuration section <c>Reward</c>.</summary>
public sealed class RewardOptions
{
    public const string SectionName = "Reward";

    /// <summary>Checkpoint to start from: a reward model (kind "reward"), or a policy whose trunk initialises the RM
    /// (the InstructGPT recipe: the RM starts from the SFT model, with a fresh scalar head).</summary>
    [Required]
    public string ModelPath { get; set; } = "";

    /// <summary>
    /// What this process does: <c>All</c> (train and score), <c>Trainer</c> (one per deployment: journal, training, versions)
    /// or <c>Scorer</c> (replicas scoring rollouts with the promoted version). See the README's "Scaling the reward service".
    /// </summary>
    public RewardRole Role { get; set; } = RewardRole.All;

    /// <summary>
    /// A round is also cut when fresh rankings have waited this long since the last round, even fewer than
    /// <see cref="TrainEvery"/> (so a quiet app still gets versions); zero (default) cuts rounds by count only, which keeps
    /// replays deterministic.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan RoundInterval { get; set; } = TimeSpan.Zero;

    /// <summary>How often a scorer re-reads the promoted version from the registry (a safety net for a missed <c>RewardModelUpdated</c>).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan RegistryPollInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Names a scorer's own <c>RewardModelUpdated</c> queue; empty: the machine name plus a random suffix, new on every start.</summary>
    [RegularExpression("^([a-z0-9][a-z0-9-]*)?$", ErrorMessage = "InstanceId may hold lower-case letters, digits and '-' only.")]
    public string InstanceId { get; set; } = "";

    /// <summary><c>cpu</c>, <c>cuda</c>, <c>cuda:N</c> or <c>auto</c>: where the reward model lives and trains.</summary>
    [RegularExpression(Rlhf.Modeling.TorchRuntime.DevicePattern, ErrorMessage = "Device must be cpu, cuda, cuda:N or auto.")]
    public string Device { get; set; } = "auto";

    /// <summary>New training rankings that trigger a training round (and a new RM version).</summary>
    [Range(1, 100_000)]
    public int TrainEvery { get; set; } = 8;

    /// <summary>Optimizer steps per round; each step sees the new rankings plus a replay sample.</summary>
    [Range(1, 1_000)]
    public int StepsPerRound { get; set; } = 4;

    /// <summary>Past rankings kept for replay (oldest dropped first).</summary>
    [Range(1, 1_000_000)]
    public int ReplayCapacity { get; set; } = 5_000;

    /// <summary>Past rankings mixed into each step.</summary>
    [Range(0, 10_000)]
    public int ReplaySample { get; set; } = 24;

    /// <summary>Share of groups (by a hash of the group id) held out for measuring pairwise accuracy.</summary>
    [Range(0.0, 0.9)]
    public double HeldOutShare { get; set; } = 0.1;

    /// <summary>
    /// Held-out rankings kept for measuring (the newest; oldest dropped first). Every round measures the champion and the
    /// candidate on all of them, so this bounds a round's cost and the service's memory under sustained feedback.
    /// </summary>
    [Range(1, 1_000_000)]
    public int HeldOutCapacity { get; set; } = 5_000;

    /// <summary>Weight of the K-wise ranking loss (rankings, pairwise choices, pairs from ratings, regenerations, edits).</summary>
    [Range(0.0, 1_000.0)]
    public double RankingLossWeight { get; set; } = 1.0;

    /// <summary>
    /// Weight of the pointwise loss of single ratings: each thumb or star rating also trains the RM on its own,
    /// target (stars - 1) / 4 (see the README's "Feedback from chat apps"). 0 turns it off: ratings then train only
    /// through the pairs they form within their group, as before.
    /// </summary>
    [Range(0.0, 1_000.0)]
    public double PointwiseLossWeight { get; set; } = 1.0;

    /// <summary>AdamW learning rate of the reward model.</summary>
    [Range(1e-8, 1.0)]
    public double LearningRate { get; set; } = 5e-5;

    /// <summary>
    /// Most responses in one forward and backward pass of a training step; larger steps run in micro-batches of whole
    /// rankings with the same update (see <see cref="Rlhf.Training.RewardModelOptions.MicroBatchResponses"/>). Bounds the
    /// activations a step holds.
    /// </summary>
    [Range(1, 65_536)]
    public int MicroBatchResponses { get; set; } = 32;

    /// <summary>Rollouts scored in one batch.</summary>
    [Range(1, 1_024)]
    public int ScoreBatchSize { get; set; } = 32;

    /// <summary>Rollouts waiting for the first RM version (beyond that the oldest are dropped and counted).</summary>
    [Range(1, 1_000_000)]
    public int MaxPendingRollouts { get; set; } = 10_000;

    /// <summary>Seed of the RM's initialisation and replay sampling (replaying the same rankings reproduces the same versions).</summary>
    public long Seed { get; set; } = 1;

    /// <summary>
    /// Trainer states (AdamW moments, RNG; about three times the weights) kept in the blob store for the newest versions;
    /// older ones are deleted. A restart resumes from the promoted version's state when it is kept, else from its weights
    /// with a fresh optimizer.
    /// </summary>
    [Range(1, 1_000)]
    public int TrainerStatesKept { get; set; } = 2;

    /// <summary>
    /// Prefix of the reward service's queue names (<c>{prefix}-ranking-submitted</c>, <c>{prefix}-rating-submitted</c>,
    /// <c>{prefix}-rollout-generated</c>); empty (default) keeps the plain names. For running a second, separate reward
    /// service on one broker (tests, a shadow RM).
    /// </summary>
    [RegularExpression("^([a-z0-9][a-z0-9-]*)?$", ErrorMessage = "QueuePrefix may hold lower-case letters, digits and '-' only.")]
    public string QueuePrefix { get; set; } = "";

    /// <summary>
    /// Comment flags that train the reward model: an answer flagged with one of these is journaled as a pointwise target
    /// of 0 (as a thumb down; needs <see cref="PointwiseLossWeight"/> &gt; 0). Empty (default): comments and flags are only
    /// stored and searchable, never trained on.
    /// </summary>
    public string[] TrainOnFlags { get; set; } = [];

    /// <summary>Most stored comments one <c>GET /v1/reward/comments</c> reads (newest first) before it stops and says so.</summary>
    [Range(1, 10_000_000)]
    public int CommentSearchMaxScan { get; set; } = 50_000;

    /// <summary>
    /// How the thread that trains rounds (and the LibTorch threads it starts) yields to the process's other threads:
    /// <c>Low</c> (default, nice 10: the journal and scoring take the CPU first, training still gets about a tenth of a
    /// contended core, so versions keep coming), <c>Idle</c> (Linux <c>SCHED_IDLE</c>: training runs only on CPU time
    /// nothing else in the process wants, and makes no progress while scoring keeps every core busy) or <c>Normal</c>.
    /// Training is batch work: a burst of feedback delays rounds instead of the journal. On cores of its own training
    /// runs at full speed whatever this says. Against other processes see <see cref="SessionNice"/>.
    /// </summary>
    public Rlhf.Hosting.BatchPriority TrainingPriority { get; set; } = Rlhf.Hosting.BatchPriority.Low;

    /// <summary>
    /// 1-19: at start the process takes a Linux session of its own and gives its autogroup this nice value, so under
    /// CPU contention the reward service (training and journal together) yields to the feedback service, RabbitMQ and
    /// Redis on the same machine (<see cref="Rlhf.Hosting.CpuSession"/>); <c>rlhf up</c> sets 10. 0 (default) leaves
    /// the process in the session it was started in. Only where the kernel has autogroup; in containers give the pod a
    /// lower CPU request instead. The process also leaves its terminal: a terminal's Ctrl-C no longer reaches it.
    /// </summary>
    [Range(0, 19)]
    public int SessionNice { get; set; }

    /// <summary>LibTorch threads; 0 keeps LibTorch's default.</summary>
    [Range(0, 256)]
    public int Threads { get; set; }
}
