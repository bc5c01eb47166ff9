using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// The configured API keys (<see cref="FeedbackOptions.ApiKeys"/>), held as SHA-256 hashes. A presented key is hashed
/// and compared with every configured hash in constant time, so neither the comparison nor the number of matching
/// bytes leaks through timing.
/// </summary>
public sealed class ApiKeyRing(IOptions<FeedbackOptions> options)
{
    readonly (string Client, byte[] Hash)[] entries = options.Value.ApiKeys
        .Select(e => (e.Key, Convert.FromHexString(e.Value)))
        .ToArray();

    public bool IsEmpty => entries.Length == 0;

    /// <summary>The client name whose key this is, or null.</summary>
    public string? Authenticate(string presentedKey)
    {
        Span<byte> presented = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(presentedKey), presented);
        string? client = null;
        foreach (var entry in entries)
        {
            // No early exit: every request costs the same comparisons whichever key (if any) matches.
            if (CryptographicOperations.FixedTimeEquals(presented, entry.Hash))
                client = entry.Client;
        }

        return client;
    }
}

/// <summary>Requires a known <c>X-Api-Key</c> on every feedback endpoint (401 otherwise) and records the client name.</summary>
public sealed class ApiKeyFilter(ApiKeyRing keys) : IEndpointFilter
{
    public const string HeaderName = "X-Api-Key";
    const string ClientItemKey = "rlhf.feedback.client";

    /// <summary>Name of the client application that authenticated this request.</summary>
    public static string ClientId(HttpContext http) =>
        http.Items[ClientItemKey] as string ?? throw new InvalidOperationException("The request did not pass the API key filter.");

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var values = http.Request.Headers[HeaderName];
        if (values.Count != 1 || string.IsNullOrEmpty(values[0]))
            return Refuse(http, $"The {HeaderName} header is required (exactly one).");
        var client = keys.Authenticate(values[0]!);
        if (client is null)
            return Refuse(http, $"The {HeaderName} is not a known API key.");
        http.Items[ClientItemKey] = client;
        return await next(context);
    }

    static IResult Refuse(HttpContext http, string detail)
    {
        http.Response.Headers.WWWAuthenticate = $"ApiKey header=\"{HeaderName}\"";
        return EdgeError.Unauthorized(detail).ToResult();
    }
}
