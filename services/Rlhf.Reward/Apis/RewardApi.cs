using Microsoft.AspNetCore.Http.HttpResults;
using Rlhf.Modeling.Tokenization;
using Rlhf.Hosting.Authentication;
using Rlhf.Hosting.Edge;
using Rlhf.Reward.Training;
using Rlhf.Storage;

namespace Rlhf.Reward.Apis;

/// <summary>A message of the conversation to score.</summary>
public sealed record ScoreMessage(string? Role, string? Content);

/// <summary>Body of <c>POST /v1/reward/score</c>.</summary>
public sealed record ScoreRequest(IReadOnlyList<ScoreMessage>? Messages, string? Response);

public sealed record ScoreResponse(float Reward, long RewardModelVersion);

/// <summary>Ad-hoc scoring and status.</summary>
public static class RewardApi
{
    public static void MapRewardEndpoints(this IEndpointRouteBuilder app)
    {
        // Operators only: scoring runs the reward model on the caller's text, status shows training state.
        var api = app.MapGroup("/v1/reward").RequireOperator();
        api.MapPost("/score", ScoreAsync);
        api.MapGet("/status", Status);
    }

    /// <summary>Largest <c>POST /v1/reward/score</c> body; larger: 413.</summary>
    public const int MaxScoreBodyBytes = 64 * 1024;

    /// <summary>Score bodies are read strictly: no unknown or repeated fields, numbers as numbers, at most 16 levels deep.</summary>
    static readonly System.Text.Json.JsonSerializerOptions ScoreJson = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        AllowDuplicateProperties = false,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict,
        MaxDepth = 16,
    };

    static async Task<Results<Ok<ScoreResponse>, EdgeErrorResult>> ScoreAsync(HttpContext http, RewardPipeline pipeline, MassTransit.IBus bus,
        CancellationToken cancellationToken)
    {
        var (body, unreadable) = await JsonBodyReader.ReadAsync<ScoreRequest>(http.Request, new JsonBodyOptions(MaxScoreBodyBytes, ScoreJson), cancellationToken);
        if (unreadable is not null)
            return unreadable.ToResult();
        var request = body!.Value;
        if (request.Messages is not { Count: > 0 })
            return EdgeError.BadRequest("messages: at least one message is required", "messages").ToResult();
        if (string.IsNullOrEmpty(request.Response))
            return EdgeError.BadRequest("response: the response to score is required", "response").ToResult();
        for (var i = 0; i < request.Messages.Count; i++)
            if (request.Messages[i] is not { Role: not null, Content: not null })
                return EdgeError.BadRequest($"messages[{i}]: each message needs a string role and content", $"messages[{i}]").ToResult();
        IReadOnlyList<ChatTurn> turns;
        try
        {
            turns = request.Messages.Select(m => new ChatTurn(m.Role!, m.Content!)).ToList();
            ChatTemplate.ChatMl.Render(turns, addGenerationPrompt: true);
        }
        catch (ArgumentException error)
        {
            return EdgeError.BadRequest($"messages: {error.Message}", "messages").ToResult();
        }

        var scored = await pipeline.ScoreChatAsync(turns, request.Response, bus, cancellationToken);
        return scored is null
            ? EdgeError.Unavailable("Reward model not ready", "No reward model has been trained yet: it is trained once enough rankings arrived.").ToResult()
            : TypedResults.Ok(new ScoreResponse(scored.Value.Reward, scored.Value.Version));
    }

    static async Task<Ok<object>> Status(RewardModelService model, Scoring.ScoringModel scoring, IFeedbackJournal journal, IPendingRolloutQueue pending,
        RewardStats stats, Microsoft.Extensions.Options.IOptions<RewardOptions> options, RewardInstance instance, CancellationToken cancellationToken)
    {
        var journalLength = await journal.LengthAsync(cancellationToken);
        var pendingRollouts = await pending.CountAsync(cancellationToken);
        return TypedResults.Ok<object>(new
        {
            role = options.Value.Role.ToString().ToLowerInvariant(),
            instance = instance.Id,
            reward_model_version = options.Value.Role == RewardRole.Scorer ? scoring.Version : model.Current?.Version,
            scoring_version = scoring.Version,
            held_out_pairwise_accuracy = model.Current is { } c && double.IsFinite(c.HeldOutAccuracy) ? c.HeldOutAccuracy : (double?)null,
            rankings_seen = model.RankingsSeen,
            held_out_rankings = model.HeldOutRankings,
            journal_length = journalLength,
            trained_through = model.TrainedThrough,
            restored_from = model.RestoredFrom,
            fresh_rankings = model.FreshRankings,
            pending_rollouts = pendingRollouts,
            scored = stats.Scored,
            ratings = stats.Ratings,
            pointwise_ratings = stats.PointwiseRatings,
            regenerations = stats.Regenerations,
            edits = stats.Edits,
            flags_trained = stats.FlagsTrained,
            rankings_without_pairs = stats.RankingsWithoutPairs,
            missing_rollouts = stats.MissingRollouts,
            pending_dropped = stats.PendingDropped,
            duplicates = stats.Duplicates,
            rejected_versions = Interlocked.Read(ref stats.RejectedVersions),
            training_priority = model.TrainingPriority,
            session_nice = Rlhf.Hosting.CpuSession.Current(),
        });
    }
}
