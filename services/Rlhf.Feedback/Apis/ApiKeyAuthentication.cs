using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Rlhf.Hosting.Authentication;
using Rlhf.Hosting.Edge;

namespace Rlhf.Feedback.Apis;

/// <summary>
/// Feedback's API keys: the shared client-key scheme (<see cref="ClientKeyAuthenticationHandler"/>, hashed keys compared
/// in constant time, the same as generation's) reading <c>X-Api-Key</c>, with <see cref="FeedbackOptions.ApiKeys"/>.
/// </summary>
public static class ApiKeyAuthentication
{
    public const string Scheme = "FeedbackApiKey";

    public static IServiceCollection AddFeedbackApiKeys(this IServiceCollection services)
    {
        services.AddAuthentication().AddScheme<ClientKeyAuthenticationOptions, ClientKeyAuthenticationHandler>(Scheme, _ => { });
        services.AddOptions<ClientKeyAuthenticationOptions>(Scheme).Configure<IOptions<FeedbackOptions>>((scheme, feedback) =>
        {
            scheme.KeyHashes = feedback.Value.ApiKeys;
            scheme.HeaderName = ApiKeyFilter.HeaderName;
        });
        return services;
    }
}

/// <summary>Requires a known <c>X-Api-Key</c> on every feedback endpoint (401 otherwise) and records the client name.</summary>
public sealed class ApiKeyFilter : IEndpointFilter
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
        var result = await http.AuthenticateAsync(ApiKeyAuthentication.Scheme);
        if (!result.Succeeded || result.Principal?.Identity?.Name is not { } client)
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
