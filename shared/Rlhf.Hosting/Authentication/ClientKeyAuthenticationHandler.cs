using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rlhf.Hosting.Edge;

namespace Rlhf.Hosting.Authentication;

/// <summary>Options of one client-key scheme.</summary>
public sealed class ClientKeyAuthenticationOptions : AuthenticationSchemeOptions
{
    /// <summary>Client name to the hex SHA-256 of its key.</summary>
    public IReadOnlyDictionary<string, string> KeyHashes { get; set; } = new Dictionary<string, string>();

    /// <summary>Header that carries the bare key (e.g. <c>X-Api-Key</c>); null reads <c>Authorization: Bearer &lt;key&gt;</c>, as OpenAI's SDKs send it.</summary>
    public string? HeaderName { get; set; }

    /// <summary>Roles of each client (as role claims of its principal); a client not named here has none.</summary>
    public IReadOnlyDictionary<string, string[]> Roles { get; set; } = new Dictionary<string, string[]>();
}

/// <summary>
/// Authenticates a client application by its key, checked against hashed keys (<see cref="HashedKeyRing"/>): the
/// principal's name is the client name (recorded on what the request produces). No key: no result, so an endpoint
/// may still allow anonymous callers; an unknown key fails. The 401 challenge is an <see cref="EdgeError"/>, so it
/// has the endpoint's error shape (OpenAI's envelope on generation's routes, ProblemDetails elsewhere).
/// </summary>
public sealed class ClientKeyAuthenticationHandler(IOptionsMonitor<ClientKeyAuthenticationOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<ClientKeyAuthenticationOptions>(options, logger, encoder)
{
    const string BearerPrefix = "Bearer ";

    /// <summary>True when the request presents a key at all (in the scheme's header), valid or not.</summary>
    public static bool PresentsKey(HttpContext http, string? headerName) => PresentedKey(http.Request, headerName) is not null;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var key = PresentedKey(Request, Options.HeaderName);
        if (key is null)
            return Task.FromResult(AuthenticateResult.NoResult());
        var client = new HashedKeyRing(Options.KeyHashes).Authenticate(key);
        if (client is null)
            return Task.FromResult(AuthenticateResult.Fail("The key is not a known client key."));
        var claims = new List<Claim> { new(ClaimTypes.Name, client) };
        if (Options.Roles.TryGetValue(client, out var roles))
            claims.AddRange(roles.Select(role => new Claim(ClaimTypes.Role, role)));
        var identity = new ClaimsIdentity(claims, Scheme.Name);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var header = Options.HeaderName;
        Response.Headers.WWWAuthenticate = header is null ? "Bearer" : $"ApiKey header=\"{header}\"";
        var where = header is null ? "an Authorization: Bearer <key> header" : $"the {header} header";
        var detail = PresentedKey(Request, header) is null
            ? $"A client key is required: send it in {where}."
            : "The client key is not known.";
        await EdgeError.Unauthorized(detail).ToResult().ExecuteAsync(Context);
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        await EdgeError.Forbidden($"The key of '{Context.User.Identity?.Name}' does not have the role this route needs.").ToResult().ExecuteAsync(Context);

    static string? PresentedKey(HttpRequest request, string? headerName)
    {
        if (headerName is not null)
            return request.Headers[headerName] is { Count: 1 } values && !string.IsNullOrEmpty(values[0]) ? values[0] : null;
        var authorization = request.Headers.Authorization;
        if (authorization.Count != 1 || authorization[0] is not { } value || !value.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
            return null;
        var key = value[BearerPrefix.Length..].Trim();
        return key.Length == 0 ? null : key;
    }
}
