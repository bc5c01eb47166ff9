using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Generation.Batching;
using Rlhf.Generation.Policy;
using Rlhf.Generation.Rollouts;
using Rlhf.Hosting;

namespace Rlhf.Generation.Apis;

/// <summary>OpenAI-compatible chat completions, the model list and the service status.</summary>
public static class GenerationApi
{
    const string RetryAfterBusySeconds = "1";
    const string RetryAfterUnavailableSeconds = "5";

    public static IEndpointRouteBuilder MapGenerationEndpoints(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1");
        v1.MapPost("/chat/completions", CreateChatCompletion)
            .WithName("CreateChatCompletion")
            .Accepts<ChatCompletionRequest>("application/json")
            .Produces<ChatCompletionResponse>()
            .Produces<ChatCompletionChunk>(StatusCodes.Status200OK, "text/event-stream")
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        v1.MapGet("/models", ListModels).WithName("ListModels");
        v1.MapGet("/generation/status", GetStatus).WithName("GetGenerationStatus");
        return app;
    }

    /// <summary>
    /// Generates n candidates in one batched decode, stores them as rollouts of one group, publishes them, and
    /// answers as OpenAI does (JSON, or SSE chunks when <c>stream</c> is set). Each choice carries its
    /// <c>rollout_id</c>; the response <c>id</c> is the group id; <c>system_fingerprint</c> names the policy version.
    /// </summary>
    public static async Task<IResult> CreateChatCompletion(
        HttpContext http,
        PolicyHolder holder,
        GenerationBatcher batcher,
        RolloutRecorder recorder,
        IOptions<GenerationOptions> options,
        ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var body = await ReadBodyAsync(http.Request, settings.MaxBodyBytes, cancellationToken);
        if (body is null)
            return TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Request body too large",
                detail: $"The body is larger than the limit of {settings.MaxBodyBytes} bytes (Generation:MaxBodyBytes).");
        if (body.Length == 0)
            return Invalid("body", "The body is empty; a JSON object is required.");
        ChatCompletionRequest? request;
        try
        {
            request = JsonSerializer.Deserialize<ChatCompletionRequest>(body, OpenAiJson.Options);
        }
        catch (JsonException error)
        {
            return Invalid(FieldOf(error.Path), Describe(error));
        }

        if (request is null)
            return Invalid("body", "The body must be a JSON object.");
        var errors = ChatRequestValidator.CheckFields(request, settings);
        if (errors.Count > 0)
            return TypedResults.ValidationProblem(errors, title: "The chat completion request is invalid.");
        if (!string.Equals(request.Model, settings.ModelName, StringComparison.Ordinal))
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Unknown model",
                detail: $"The model '{request.Model}' is not served here; this service serves '{settings.ModelName}' (see GET /v1/models).");

        var policyBase = holder.Base;
        if (policyBase is null || holder.Current is null)
            return Unavailable(http, "No policy is loaded yet.");
        var (chat, preparationErrors) = ChatRequestValidator.Prepare(request, policyBase, settings);
        if (chat is null)
            return TypedResults.ValidationProblem(preparationErrors, title: "The chat completion request is invalid.");

        var job = new GenerationJob(chat.PromptTokenIds, chat.Sampling, chat.Candidates);
        if (!batcher.TryEnqueue(job))
        {
            http.Response.Headers.RetryAfter = RetryAfterBusySeconds;
            return TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Generation queue is full",
                detail: $"{settings.MaxQueueLength} requests are already waiting; retry after {RetryAfterBusySeconds} s.");
        }

        GenerationResult result;
        try
        {
            result = await job.WaitAsync(cancellationToken);
        }
        catch (PolicyUnavailableException error)
        {
            return Unavailable(http, error.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away while waiting: the job is withdrawn and never decoded; nobody reads an answer.
            return TypedResults.Empty;
        }

        var groupId = $"chatcmpl-{Guid.NewGuid():N}";
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
            return Unavailable(http, "The rollout store is unavailable, so the response could not be recorded for feedback.");
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
        var current = holder.Current;
        var card = new ModelCard(options.Value.ModelName, "model", (current?.LoadedAt ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds(), "rlhf",
            current?.Version);
        return TypedResults.Json(new ModelList("list", [card]), OpenAiJson.Options);
    }

    public static JsonHttpResult<GenerationStatus> GetStatus(PolicyHolder holder, GenerationBatcher batcher, GenerationStats stats,
        RolloutOutbox outbox, IOptions<GenerationOptions> options)
    {
        var current = holder.Current;
        var settings = options.Value;
        var status = new GenerationStatus(settings.ModelName, current?.Version, current?.Fingerprint, current?.LoadedAt,
            batcher.QueueLength, settings.MaxQueueLength, settings.MaxBatchSize, stats.BatchesServed, stats.RequestsServed,
            stats.SequencesServed, stats.PublishFailures, outbox.Depth, outbox.Capacity, outbox.Dropped, outbox.Flushed, stats.PolicySwaps,
            stats.PolicyRefusals, stats.PolicyUpdatesIgnored);
        return TypedResults.Json(status, OpenAiJson.Options);
    }

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

    static ValidationProblem Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: "The chat completion request is invalid.");

    static ProblemHttpResult Unavailable(HttpContext http, string detail)
    {
        http.Response.Headers.RetryAfter = RetryAfterUnavailableSeconds;
        return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Generation is unavailable", detail: detail);
    }

    /// <summary>The whole body, or null when it is longer than <paramref name="maxBytes"/> (read no further than that).</summary>
    static async Task<byte[]?> ReadBodyAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes)
            return null;
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
                return null;
            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>System.Text.Json's message without .NET type names or the reader's internals.</summary>
    static string Describe(JsonException error)
    {
        var field = FieldOf(error.Path);
        if (error.Message.Contains("could not be converted", StringComparison.Ordinal))
            return field == "body" ? "The body must be a JSON object." : $"{field} has the wrong type or format.";
        var position = error.LineNumber is { } line ? $" (line {line + 1}, byte {error.BytePositionInLine + 1})" : "";
        var reason = error.InnerException?.Message ?? error.Message;
        var cut = reason.IndexOf(" Path: ", StringComparison.Ordinal) is var at and >= 0 ? at : reason.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        return $"Malformed JSON{position}{(field == "body" ? "" : $" at {field}")}: {(cut >= 0 ? reason[..cut] : reason)}";
    }

    /// <summary>"$.messages[0].role" -> "messages[0].role"; the document itself is "body".</summary>
    static string FieldOf(string? path) =>
        string.IsNullOrEmpty(path) || path == "$" ? "body" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;
}
