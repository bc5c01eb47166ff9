using System.CommandLine;

namespace Rlhf.Cli.Operations;

/// <summary>
/// The learner's admin routes as the changing <c>rlhf policy</c> and <c>rlhf errors</c> commands call them: the base
/// URL (<c>--url</c>, else <c>RLHF_LEARNER_URL</c>, else <c>http://localhost:5104</c>) and an admin's key
/// (<c>--operator-key</c>, else <c>RLHF_OPERATOR_KEY</c>), sent as <c>X-Operator-Key</c>.
/// </summary>
public sealed record AdminEndpoint(Uri Url, string? OperatorKey, TimeSpan Timeout)
{
    public const string UrlVariable = "RLHF_LEARNER_URL";
    public const string KeyVariable = "RLHF_OPERATOR_KEY";
    public static readonly Uri DefaultUrl = new("http://localhost:5104");

    /// <summary>Sends requests through this handler instead of the network (tests host the learner in process).</summary>
    public HttpMessageHandler? Handler { get; init; }

    public HttpClient CreateClient()
    {
        var client = Handler is null ? new HttpClient() : new HttpClient(Handler, disposeHandler: false);
        client.BaseAddress = Url;
        client.Timeout = Timeout;
        return client;
    }

    /// <summary>
    /// The options every changing command shares (recursive on its parent): <c>--url</c>, <c>--operator-key</c> and
    /// <c>--direct</c> (skip the learner; reach Redis and RabbitMQ with their own credentials, as before the admin routes).
    /// Returns them and a function that reads the endpoint, null when <c>--direct</c> was given.
    /// </summary>
    public static (Option[] Options, Func<ParseResult, AdminEndpoint?> Read) CreateOptions(Func<ParseResult, TimeSpan> timeout)
    {
        var url = new Option<Uri>("--url")
        {
            Description = $"The learner's base URL for the admin routes (default: ${UrlVariable}, else {DefaultUrl})",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable(UrlVariable) is { Length: > 0 } fromEnvironment
                && Uri.TryCreate(fromEnvironment, UriKind.Absolute, out var parsed) ? parsed : DefaultUrl,
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
                if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
                    return uri;
                result.AddError($"--url must be an http:// or https:// address (got '{text}').");
                return null;
            },
            Recursive = true,
        };
        var key = new Option<string?>("--operator-key")
        {
            Description = $"An admin's operator key, sent as X-Operator-Key (default: ${KeyVariable})",
            Recursive = true,
        };
        var direct = new Option<bool>("--direct")
        {
            Description = "Do not call the learner: change Redis and publish to RabbitMQ directly (--redis, --rabbitmq; needs their credentials)",
            Recursive = true,
        };
        return ([url, key, direct], parse => parse.GetValue(direct)
            ? null
            : new AdminEndpoint(parse.GetValue(url)!, parse.GetValue(key) ?? Environment.GetEnvironmentVariable(KeyVariable), timeout(parse)));
    }
}
