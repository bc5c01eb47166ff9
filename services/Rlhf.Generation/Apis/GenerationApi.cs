using System.Threading.Channels;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Rlhf.Contracts;
using Rlhf.Generation.Batching;
using Rlhf.Generation.Policy;
using Rlhf.Generation.Rollouts;
using Rlhf.Generation.Routing;
using Rlhf.Hosting;
using Rlhf.Hosting.Authentication;
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
            .RequireClientKey()
            .Accepts<ChatCompletionRequest>("application/json")
            .Produces<ChatCompletionResponse>()
            .Produces<ChatCompletionChunk>(StatusCodes.Status200OK, "text/event-stream")
            .Produces<OpenAiErrorWriter.Envelope>(StatusCodes.Status400BadRequest)
            .Produces<OpenAiErrorWriter.Envelope>(StatusCodes.Status401Unauthorized)
            .Produces<OpenAiErrorWriter.Envelope>(StatusCodes.Status404NotFound)
            .Produces<OpenAiErrorWriter.Envelope>(StatusCodes.Status413PayloadTooLarge)
            .Produces<OpenAiErrorWriter.Envelope>(StatusCodes.Status429TooManyRequests)
            .Produces<OpenAiErrorWriter.Envelope>(StatusCodes.Status503ServiceUnavailable)
            .Produces<OpenAiErrorWriter.Envelope>(StatusCodes.Status504GatewayTimeout);
        v1.MapGet("/models", ListModels).WithName("ListModels");
        v1.MapGet("/generation/status", GetStatus).WithName("GetGenerationStatus").RequireOperator();
        v1.MapUnmatchedRoutes();
        return app;
    }

    /// <summary>
    /// Generates n candidates in the continuous batch, stores them as rollouts of one group, publishes them, and
    /// answers as OpenAI does (JSON, or SSE chunks token by token while decoding when <c>stream</c> is set). Each choice carries its
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
        var clientId = ClientIdOf(http);
        var routedVersion = router.Route(served.Champion.Version, served.Canary?.Version, CanaryRouter.KeyOf(chat.User, groupId));
        var job = new GenerationJob(chat.PromptTokenIds, chat.Sampling, chat.Candidates, routedVersion, chat.Stop, chat.TopLogProbs ?? 0,
            clientKey: clientId ?? chat.User, streamed: chat.Stream);
        if (!batcher.TryEnqueue(job))
        {
            return EdgeError.TooManyRequests("Generation queue is full",
                $"{settings.MaxQueueLength} requests are already waiting; retry after {RetryAfterBusy.TotalSeconds:0} s.", RetryAfterBusy).ToResult();
        }

        // The request's own deadline: on timeout or disconnect the job is cancelled and its rows leave at the next token.
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(settings.RequestTimeoutMs);
        http.Response.RegisterForDispose(deadline);
        var run = new ChatCompletionRun(groupId, chat, settings.ModelName, clientId, policyBase.Tokenizer);
        var logger = loggers.CreateLogger(typeof(GenerationApi));
        var correlationId = CorrelationId.Get(http);

        async Task<EdgeError?> RecordAsync(GenerationResult result, CancellationToken token)
        {
            var rollouts = run.ToRollouts(result);
            IReadOnlyList<PendingRollout> pending;
            try
            {
                pending = await recorder.SaveAsync(rollouts, correlationId, token);
            }
            catch (Exception error) when (error is not OperationCanceledException || !token.IsCancellationRequested)
            {
                logger.LogError(error, "Could not store the rollouts of group {GroupId}; answering 503", groupId);
                return UnavailableError("The rollout store is unavailable, so the response could not be recorded for feedback.");
            }

            recorder.Publish(pending);
            return null;
        }

        EdgeError Failure(Exception error) => Unwrap(error) switch
        {
            PolicyUnavailableException unavailable => UnavailableError(unavailable.Message),
            OperationCanceledException => new EdgeError(StatusCodes.Status504GatewayTimeout, "Request timed out",
                $"The request did not finish within {settings.RequestTimeoutMs} ms (Generation:RequestTimeoutMs); it was stopped.") { Code = "timeout" },
            _ => new EdgeError(StatusCodes.Status500InternalServerError, "Generation failed", "Generation failed; see the service log."),
        };

        if (chat.Stream)
            return new ChatCompletionStreamResult(job, run, RecordAsync, Failure, deadline.Token);

        GenerationResult result;
        try
        {
            result = await job.WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away: the job is withdrawn (never decoded, or stopped at the next token); nobody reads an answer.
            return TypedResults.Empty;
        }
        catch (Exception error) when (error is PolicyUnavailableException or OperationCanceledException)
        {
            return Failure(error).ToResult();
        }

        if (await RecordAsync(result, cancellationToken) is { } recordError)
            return recordError.ToResult();
        return TypedResults.Json(run.Response(result), OpenAiJson.Options);
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

    static string? ClientIdOf(HttpContext http) =>
        http.User.Identity is { IsAuthenticated: true, Name: { } name } ? name : null;

    static EdgeErrorResult Unavailable(string detail) => UnavailableError(detail).ToResult();

    static EdgeError UnavailableError(string detail) => EdgeError.Unavailable("Generation is unavailable", detail, RetryAfterUnavailable);

    static Exception Unwrap(Exception error) => error is ChannelClosedException { InnerException: { } inner } ? inner : error;
}
