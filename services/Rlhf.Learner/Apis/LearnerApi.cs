using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Learner.Privacy;
using Rlhf.Learner.Release;
using Rlhf.Learner.Training;
using Rlhf.Storage;
using Rlhf.Hosting.Authentication;
using Rlhf.Hosting.Edge;

namespace Rlhf.Learner.Apis;

/// <summary><c>GET /v1/learner/status</c> and the registry read API <c>GET /v1/models/versions</c>.</summary>
public static class LearnerApi
{
    public static void MapLearnerEndpoints(this IEndpointRouteBuilder app)
    {
        // Operators only: the status and the registry name checkpoint paths and blob URIs.
        app.MapGet("/v1/learner/status", Status).RequireOperator();
        app.MapGet("/v1/models/versions", VersionsAsync).RequireOperator();
    }

    static async Task<Ok<object>> Status(LearnerEngine engine, IOptions<LearnerOptions> options, ILiveFeedbackStore feedback, IModelRegistry registry,
        ErasureGuard erasures, CancellationToken cancellationToken)
    {
        PromotionPause? pause = null;
        string? registryProblem = null;
        object? live = null;
        try
        {
            pause = await registry.GetPromotionPauseAsync(ModelKind.Policy, cancellationToken);
            live = engine.LiveCanary is { } canary ? await LiveCanaryAsync(canary, feedback, options.Value.Canary, cancellationToken) : null;
        }
        catch (StackExchange.Redis.RedisException error)
        {
            registryProblem = error.Message;
        }

        var snapshot = engine.Snapshot();
        var settings = options.Value;
        var state = snapshot.State;
        var counters = snapshot.Counters;
        return TypedResults.Ok<object>(new
        {
            phase = snapshot.Phase switch
            {
                LearnerPhase.NoModel => "no_model",
                LearnerPhase.Starting => "starting",
                _ => "ready",
            },
            startup_problem = snapshot.StartupProblem,
            registry_problem = registryProblem,
            promotion_pause = pause is null ? null : new { reason = pause.Reason, paused_at = pause.PausedAt },
            policy_version = state?.PolicyVersion,
            parent_version = state?.ParentVersion,
            ppo_steps = state?.PpoSteps ?? 0,
            sft_steps = state?.SftSteps ?? 0,
            kl_coefficient = state?.KlCoefficient,
            session_nice = Rlhf.Hosting.CpuSession.Current(),
            training = snapshot.Training,
            batch = new
            {
                size = settings.BatchSize,
                time_limit_seconds = settings.BatchTimeLimit.TotalSeconds,
                max_policy_lag = settings.MaxPolicyLag,
                demonstration_size = settings.DemonstrationBatchSize,
                demonstration_time_limit_seconds = settings.DemonstrationBatchTimeLimit.TotalSeconds,
            },
            rollouts = new
            {
                batches = counters.RolloutBatches,
                trained = counters.RolloutsTrained,
                duplicates = counters.DuplicateRollouts,
                missing = counters.MissingRollouts,
                stale = counters.StaleRollouts,
                off_temperature = counters.OffTemperatureRollouts,
                invalid = counters.InvalidRollouts,
                erased = counters.ErasedRollouts,
            },
            demonstrations = new
            {
                batches = counters.DemonstrationBatches,
                trained = counters.DemonstrationsTrained,
                duplicates = counters.DuplicateDemonstrations,
                invalid = counters.InvalidDemonstrations,
                erased = counters.ErasedDemonstrations,
            },
            deletions_heard = erasures.Heard,
            canary = new
            {
                enabled = settings.Canary.Enabled,
                min_feedback = settings.Canary.MinFeedback,
                max_feedback = settings.Canary.MaxFeedback,
                max_regression = settings.Canary.MaxRegression,
                started = counters.CanariesStarted,
                promoted = counters.CanariesPromoted,
                rolled_back = counters.CanariesRolledBack,
                steps_held = counters.StepsHeldDuringCanary,
                live,
            },
            versions_published = counters.VersionsPublished,
            rejected = counters.CandidatesRejected,
            skipped_steps = counters.SkippedSteps,
            kl_bound = settings.KlBound,
            last_metrics = state?.LastMetrics is { } m ? Metrics(m) : null,
            last_rejection = state?.LastRejection is { } r
                ? new { candidate_version = r.CandidateVersion, parent_version = r.ParentVersion, reason = r.Reason, rejected_at = r.RejectedAt }
                : null,
            checkpoint = state is null ? null : new
            {
                sequence = state.Sequence,
                directory = snapshot.Checkpoint,
                written_at = state.WrittenAt,
            },
        });
    }

    static async Task<object> LiveCanaryAsync(CanaryState canary, ILiveFeedbackStore feedback, CanaryOptions options, CancellationToken cancellationToken)
    {
        var (candidate, champion) = await feedback.ReadCanaryAsync(canary.Version, canary.ChampionVersion, cancellationToken);
        var verdict = CanaryJudge.Judge(candidate, champion, options);
        return new
        {
            version = canary.Version,
            champion_version = canary.ChampionVersion,
            started_at = canary.StartedAt,
            candidate = LiveFeedbackJson.From(candidate),
            champion = LiveFeedbackJson.From(champion),
            verdict = verdict.Decision.ToString().ToLowerInvariant(),
            reason = verdict.Reason,
        };
    }

    static async Task<Results<Ok<object>, EdgeErrorResult>> VersionsAsync(IModelRegistry registry, CancellationToken cancellationToken)
    {
        try
        {
            return TypedResults.Ok<object>(new
            {
                policy = await KindAsync(registry, ModelKind.Policy, cancellationToken),
                reward = await KindAsync(registry, ModelKind.Reward, cancellationToken),
            });
        }
        catch (StackExchange.Redis.RedisException error)
        {
            return EdgeError.Unavailable("Model registry unavailable", $"The model registry cannot be read: {error.Message}").ToResult();
        }
    }

    static async Task<object> KindAsync(IModelRegistry registry, ModelKind kind, CancellationToken cancellationToken)
    {
        var versions = await registry.ListAsync(kind, cancellationToken);
        var promoted = (await registry.GetPromotedAsync(kind, cancellationToken))?.Version;
        var canary = (await registry.GetCanaryAsync(kind, cancellationToken))?.Version;
        var rejected = await registry.ListRejectedAsync(kind, cancellationToken);
        return new
        {
            promoted_version = promoted,
            canary_version = canary,
            rejected = rejected.Select(r => new
            {
                version = r.Version,
                parent_version = r.ParentVersion,
                champion_version = r.ChampionVersion,
                reason = r.Reason,
                rejected_at = r.RejectedAt,
                metrics = MetricsJson.Finite(r.Metrics),
            }),
            versions = versions.Select(v => new
            {
                version = v.Version,
                parent_version = v.ParentVersion,
                promoted = v.Version == promoted,
                canary = v.Version == canary,
                created_at = v.CreatedAt,
                blob = new { uri = v.Blob.Uri, sha256 = v.Blob.Sha256, bytes = v.Blob.Bytes, format = v.Blob.Format, base_sha256 = v.Blob.BaseSha256 },
                metrics = MetricsJson.Finite(v.Metrics),
            }),
        };
    }

    static object Metrics(PolicyMetrics m) => new
    {
        kl_to_reference = m.KlToReference,
        mean_reward = m.MeanReward,
        policy_loss = m.PolicyLoss,
        value_loss = m.ValueLoss,
        ptx_loss = m.PtxLoss,
        sft_loss = m.SftLoss,
        kl_coefficient = m.KlCoefficient,
        rollouts_used = m.RolloutsUsed,
        eval_kl = m.EvalKl,
    };
}
