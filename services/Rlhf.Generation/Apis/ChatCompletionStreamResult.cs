using System.Text;
using System.Text.Json;

namespace Rlhf.Generation.Apis;

/// <summary>Writes chat completion chunks as server-sent events (<c>data: {json}</c>), ending with <c>data: [DONE]</c>, as OpenAI does.</summary>
sealed class ChatCompletionStreamResult(IEnumerable<ChatCompletionChunk> chunks) : IResult
{
    static readonly byte[] Done = Encoding.UTF8.GetBytes("data: [DONE]\n\n");

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        var cancellationToken = httpContext.RequestAborted;
        foreach (var chunk in chunks)
        {
            var line = $"data: {JsonSerializer.Serialize(chunk, OpenAiJson.Options)}\n\n";
            await response.Body.WriteAsync(Encoding.UTF8.GetBytes(line), cancellationToken);
            await response.Body.FlushAsync(cancellationToken);
        }

        await response.Body.WriteAsync(Done, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }
}
