using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Generation.Batching;
using Rlhf.Generation.Policy;
using Rlhf.Generation.Rollouts;
using Rlhf.Generation.Routing;
using Rlhf.Hosting;
using Rlhf.Hosting.Edge;

namespace Rlhf.Generation.Apis;

/// <summary>OpenAI-compatible chat completions, the model list and the service status.</summary>
public static class GenerationApi
{
    static readonly TimeSpan RetryAfterBusy = TimeSpan.FromSeconds(1);
    static readonly TimeSpan RetryAfterUnavailable = TimeSpan.FromSeconds(5);

    public static IEndpointRouteBuilder MapGenerationEndpoints(this IEndpointRouteBuilder app)
    {
        // Every error of these routes is OpenAI's envelope, so the official SDKs show its message.
        var v1 = app.MapGroup("/v1").WithOpenAiErrors();
        v1.MapPost("/chat/completions", CreateChatCompletion)
            .WithName("CreateChatCompletion")
            .Accepts<ChatCompletionRequest>("application/json")
            .Produces<ChatCompletionResponse>()
            .Produces<ChatCompletionChunk>(StatusCodes.Status200OK, "text/event-stream")
            .Produces<OpenAiErrorWriter.Envelope>(StatusCodes.Status400BadRequest)
            .Produces<OpenAiErrorWriter.Envelope>(StatusCodes.Status404NotFound)
            .Produces<OpenAiErrorWriter.Envelope>(StatusCodes.Status413PayloadTooLarge)
            .Produces<OpenAiErrorWriter.Envelope>(StatusCodes.Status429TooManyRequests)
            .Produces<OpenAiErrorWriter.Envelope>(StatusCodes.Status503ServiceUnavailable);
        v1.MapGet("/models", ListModels).WithName("ListModels");
        v1.MapGet("/generation/status", GetStatus).WithName("GetGenerationStatus");
        v1.MapUnmatchedRoutes();
        return app;
    }

    /// <summary>
    /// Generates n candidates in one batched decode, stores them as rollouts of one group, publishes them, and
    /// answers as OpenAI does (JSON, or SSE chunks when <c>stream</c> is set). Each choice carries its
    /// <c>rollout_id</c>; the response <c>id</c> is the group id; <c>system_fingerprint</c> names the policy version that
    /// produced it: the champion, or the canary for the requests <see cref="CanaryRouter"/> sends there.
    /// </summary>
    public static async Task<IResult> CreateChatCompletion(
        HttpContext http,
        PolicyHolder holder,
        GenerationBatcher batcher,
        CanaryRouter router,
        RolloutRecorder recorder,
        IOptions<GenerationOptions> options,
        ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        var settings = options.Value;
        // OpenAI's clients send application/json; others (curl -d) are read as JSON too, as before.
        var (body, unreadable) = await JsonBodyReader.ReadAsync<ChatCompletionRequest>(http.Request,
            new JsonBodyOptions(settings.MaxBodyBytes, OpenAiJson.Options, RequireJsonContentType: false), cancellationToken);
        if (unreadable is not null)
            return unreadable.ToResult();
        var request = body!.Value;
        var errors = ChatRequestValidator.CheckFields(request, settings);
        if (errors.Count > 0)
            return EdgeError.Validation(errors).ToResult();
        if (!string.Equals(request.Model, settings.ModelName, StringComparison.Ordinal))
            return EdgeError.NotFound("Unknown model",
                $"The model '{request.Model}' is not served here; this service serves '{settings.ModelName}' (see GET /v1/models).",
                "model", "model_not_found").ToResult();

        var policyBase = holder.Base;
        var served = holder.Served;
        if (policyBase is null || served.Champion is null)
            return Unavailable("No policy is loaded yet.");
        var (chat, preparationErrors) = ChatRequestValidator.Prepare(request, policyBase, settings);
        if (chat is null)
            return EdgeError.Validation(preparationErrors, "context_length_exceeded").ToResult();

        var groupId = $"chatcmpl-{Guid.NewGuid():N}";
        var routedVersion = router.Route(served.Champion.Version, served.Canary?.Version, CanaryRouter.KeyOf(chat.User, groupId));
        var job = new GenerationJob(chat.PromptTokenIds, chat.Sampling, chat.Candidates, routedVersion);
        if (!batcher.TryEnqueue(job))
        {
            return EdgeError.TooManyRequests("Generation queue is full",
                $"{settings.MaxQueueLength} requests are already waiting; retry after {RetryAfterBusy.TotalSeconds:0} s.", RetryAfterBusy).ToResult();
        }

        GenerationResult result;
        try
        {
            result = await job.WaitAsync(cancellationToken);
        }
        catch (PolicyUnavailableException error)
        {
            return Unavailable(error.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away while waiting: the job is withdrawn and never decoded; nobody reads an answer.
            return TypedResults.Empty;
        }

        var createdAt = DateTimeOffset.UtcNow;
        var finished = result.Sequences
            .Select(s => ResponseFinisher.Finish(s, policyBase.Tokenizer, policyBase.StopTokenIds, chat.Stop))
            .ToList();
        var rollouts = ToRollouts(groupId, chat, result.PolicyVersion, finished, ClientIdOf(http), createdAt);

        try
        {
            await recorder.SaveAsync(rollouts, cancellationToken);
        }
        catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            loggers.CreateLogger(typeof(GenerationApi)).LogError(error, "Could not store the rollouts of group {GroupId}; answering 503", groupId);
            return Unavailable("The rollout store is unavailable, so the response could not be recorded for feedback.");
        }

        recorder.Publish(rollouts, CorrelationId.Get(http));

        var fingerprint = ServedPolicy.FingerprintOf(result.PolicyVersion);
        var created = createdAt.ToUnixTimeSeconds();
        var usage = new CompletionUsage(chat.PromptTokenIds.Count, finished.Sum(f => f.TokenIds.Count),
            chat.PromptTokenIds.Count + finished.Sum(f => f.TokenIds.Count));
        if (chat.Stream)
            return new ChatCompletionStreamResult(StreamChunks(groupId, created, settings.ModelName, fingerprint, rollouts, chat.IncludeUsage ? usage : null));

        var choices = rollouts
            .Select(r => new ChatCompletionChoice(r.ChoiceIndex, new AssistantMessage("assistant", r.ResponseText), r.FinishReason, r.RolloutId))
            .ToList();
        return TypedResults.Json(new ChatCompletionResponse(groupId, "chat.completion", created, settings.ModelName, fingerprint, choices, usage),
            OpenAiJson.Options);
    }

    public static JsonHttpResult<ModelList> ListModels(PolicyHolder holder, IOptions<GenerationOptions> options)
    {
        var champion = holder.Champion;
        var card = new ModelCard(options.Value.ModelName, "model", (champion?.LoadedAt ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds(), "rlhf",
            champion?.Version);
        return TypedResults.Json(new ModelList("list", [card]), OpenAiJson.Options);
    }

    public static JsonHttpResult<GenerationStatus> GetStatus(PolicyHolder holder, GenerationBatcher batcher, GenerationStats stats,
        RolloutOutbox outbox, IOptions<GenerationOptions> options) =>
        TypedResults.Json(GenerationStatus.Of(holder.Served, batcher, stats, outbox, options.Value), OpenAiJson.Options);

    static List<RolloutGenerated> ToRollouts(string groupId, PreparedChat chat, long policyVersion, IReadOnlyList<FinishedResponse> finished,
        string? clientId, DateTimeOffset createdAt)
    {
        var sampling = new SamplingParameters(chat.Sampling.Temperature, chat.Sampling.TopP, chat.Sampling.TopK, chat.Sampling.MaxNewTokens,
            chat.Sampling.Seed, chat.Stop);
        return finished.Select((response, index) => new RolloutGenerated(
            RolloutId: Guid.CreateVersion7(createdAt),
            GroupId: groupId,
            ChoiceIndex: index,
            GroupSize: finished.Count,
            PolicyVersion: policyVersion,
            PromptText: chat.PromptText,
            PromptTokenIds: chat.PromptTokenIds,
            ResponseText: response.Text,
            ResponseTokenIds: response.TokenIds,
            BehaviourLogProbs: response.LogProbs,
            FinishReason: response.FinishReason,
            Sampling: sampling,
            ClientId: clientId,
            UserId: chat.User,
            CreatedAt: createdAt)).ToList();
    }

    /// <summary>OpenAI's chunk sequence per choice: the role, the content, then the finish reason; usage last when asked for.</summary>
    static IEnumerable<ChatCompletionChunk> StreamChunks(string groupId, long created, string model, string fingerprint,
        IReadOnlyList<RolloutGenerated> rollouts, CompletionUsage? usage)
    {
        ChatCompletionChunk Chunk(RolloutGenerated rollout, ChatCompletionDelta delta, string? finishReason) =>
            new(groupId, "chat.completion.chunk", created, model, fingerprint,
                [new ChatCompletionChunkChoice(rollout.ChoiceIndex, delta, finishReason, rollout.RolloutId)], null);

        foreach (var rollout in rollouts)
        {
            yield return Chunk(rollout, new ChatCompletionDelta("assistant", ""), null);
            if (rollout.ResponseText.Length > 0)
                yield return Chunk(rollout, new ChatCompletionDelta(null, rollout.ResponseText), null);
            yield return Chunk(rollout, new ChatCompletionDelta(null, null), rollout.FinishReason);
        }

        if (usage is not null)
            yield return new ChatCompletionChunk(groupId, "chat.completion.chunk", created, model, fingerprint, [], usage);
    }

    static string? ClientIdOf(HttpContext http) =>
        http.User.Identity is { IsAuthenticated: true, Name: { } name } ? name : null;

    static EdgeErrorResult Unavailable(string detail) =>
        EdgeError.Unavailable("Generation is unavailable", detail, RetryAfterUnavailable).ToResult();
}
