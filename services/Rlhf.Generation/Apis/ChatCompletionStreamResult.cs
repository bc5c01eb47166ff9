using System.Text;
using System.Text.Json;
using Rlhf.Generation.Batching;
using Rlhf.Hosting.Edge;

namespace Rlhf.Generation.Apis;

/// <summary>
/// Streams a job as OpenAI does, while it is decoded: server-sent events (<c>data: {json}</c>), first the role of each
/// choice, then one chunk per decoded token (its text, its log-probs when asked for), and once every choice has ended
/// and its rollouts are recorded, the finish reasons, the usage when asked for, and <c>data: [DONE]</c>. Errors before
/// the first byte are answered with OpenAI's error envelope and their status; later ones as an <c>error</c> event.
/// </summary>
sealed class ChatCompletionStreamResult(
    GenerationJob job,
    ChatCompletionRun run,
    Func<GenerationResult, CancellationToken, Task<EdgeError?>> record,
    Func<Exception, EdgeError> failure,
    CancellationToken cancellationToken) : IResult
{
    static readonly byte[] Done = Encoding.UTF8.GetBytes("data: [DONE]\n\n");

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        long version;
        try
        {
            var first = await job.Events.ReadAsync(cancellationToken);
            version = ((JobStarted)first).PolicyVersion;
        }
        catch (Exception error) when (error is not OperationCanceledException || !httpContext.RequestAborted.IsCancellationRequested)
        {
            job.Cancel();
            await OpenAiErrorWriter.WriteAsync(httpContext, failure(error));
            return;
        }
        catch (OperationCanceledException)
        {
            job.Cancel();
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        try
        {
            for (var choice = 0; choice < run.Chat.Candidates; choice++)
                await WriteAsync(response, run.Chunk(version, choice, new ChatCompletionDelta("assistant", "")));
            await response.Body.FlushAsync(cancellationToken);

            await foreach (var jobEvent in job.Events.ReadAllAsync(cancellationToken))
            {
                if (jobEvent is ChoiceDelta delta && run.DeltaChunk(version, delta) is { } chunk)
                {
                    await WriteAsync(response, chunk);
                    await response.Body.FlushAsync(cancellationToken);
                }
            }

            var result = await job.WaitAsync(cancellationToken);
            if (await record(result, cancellationToken) is { } recordError)
            {
                await WriteErrorEventAsync(response, recordError);
                return;
            }

            for (var choice = 0; choice < result.Choices.Count; choice++)
                await WriteAsync(response, run.Chunk(version, choice, new ChatCompletionDelta(null, null), null, result.Choices[choice].FinishReason));
            if (run.Chat.IncludeUsage)
                await WriteAsync(response, run.UsageChunk(result));
            await response.Body.WriteAsync(Done, cancellationToken);
            await response.Body.FlushAsync(cancellationToken);
        }
        catch (Exception error) when (!httpContext.RequestAborted.IsCancellationRequested)
        {
            // Timed out or failed after the first byte: the status is sent already, so the error travels as an event.
            job.Cancel();
            await WriteErrorEventAsync(response, failure(error));
        }
        catch (Exception)
        {
            // The client went away: the job is cancelled and its rows are freed at the next token.
            job.Cancel();
        }
    }

    async Task WriteAsync(HttpResponse response, ChatCompletionChunk chunk) =>
        await response.Body.WriteAsync(Encoding.UTF8.GetBytes($"data: {JsonSerializer.Serialize(chunk, OpenAiJson.Options)}\n\n"), CancellationToken.None);

    static async Task WriteErrorEventAsync(HttpResponse response, EdgeError error)
    {
        var envelope = JsonSerializer.Serialize(OpenAiErrorWriter.ToEnvelope(error), OpenAiJson.Options);
        await response.Body.WriteAsync(Encoding.UTF8.GetBytes($"data: {envelope}\n\n"), CancellationToken.None);
        await response.Body.FlushAsync(CancellationToken.None);
    }
}
