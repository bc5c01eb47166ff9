using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Rlhf.Dashboard.Auth;

/// <summary>
/// The dashboard's operator check, kept self-contained so it can move onto the shared API-key handler later: a request
/// passes with header <c>X-Operator-Key</c> equal to <see cref="DashboardOptions.OperatorKey"/>, or with the cookie
/// <see cref="CookieName"/> that <c>POST /dashboard/login</c> sets (an HMAC of the key, never the key itself).
/// </summary>
public sealed class OperatorKeyAuth(IOptions<DashboardOptions> options)
{
    public const string HeaderName = "X-Operator-Key";
    public const string CookieName = "rlhf-operator";

    public bool Enabled => !string.IsNullOrEmpty(options.Value.OperatorKey);

    public bool IsOperator(HttpContext context)
    {
        if (!Enabled)
            return true;
        var header = context.Request.Headers[HeaderName].ToString();
        if (header.Length > 0)
            return FixedTimeEquals(header, options.Value.OperatorKey!);
        return context.Request.Cookies.TryGetValue(CookieName, out var cookie) && FixedTimeEquals(cookie, CookieValue());
    }

    /// <summary>Checks a key typed on the login page; on success the response carries the operator cookie.</summary>
    public bool TrySignIn(string? key, HttpResponse response)
    {
        if (!Enabled || key is null || !FixedTimeEquals(key, options.Value.OperatorKey!))
            return false;
        response.Cookies.Append(CookieName, CookieValue(), new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = response.HttpContext.Request.IsHttps,
            Path = "/",
            MaxAge = TimeSpan.FromHours(12),
        });
        return true;
    }

    string CookieValue() =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(options.Value.OperatorKey!), "rlhf-dashboard-operator"u8));

    static bool FixedTimeEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(a)), SHA256.HashData(Encoding.UTF8.GetBytes(b)));
}

/// <summary>Turns away non-operators: pages go to the login page, APIs answer 401.</summary>
public sealed class OperatorFilter(OperatorKeyAuth auth) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (auth.IsOperator(context.HttpContext))
            return await next(context);
        return context.HttpContext.Request.Path.StartsWithSegments("/v1")
            ? Rlhf.Hosting.Edge.EdgeError.Unauthorized($"The dashboard needs the operator key (header {OperatorKeyAuth.HeaderName} or sign in at /dashboard/login).").ToResult()
            : TypedResults.Redirect("/dashboard/login");
    }
}

/// <summary>Says at start when the dashboard is open to anyone who can reach it.</summary>
sealed class OpenDashboardWarning(OperatorKeyAuth auth, ILogger<OpenDashboardWarning> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!auth.Enabled)
            logger.LogWarning("The dashboard shows user prompts to anyone who can reach it: set {Key} to require an operator key",
                $"{DashboardOptions.SectionName}:{nameof(DashboardOptions.OperatorKey)}");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
