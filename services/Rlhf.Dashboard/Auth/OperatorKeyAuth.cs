using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Rlhf.Hosting.Authentication;

namespace Rlhf.Dashboard.Auth;

/// <summary>
/// The dashboard's operator check: a request passes with header <c>X-Operator-Key</c> equal to
/// <see cref="DashboardOptions.OperatorKey"/> or holding a key of the shared operator scheme (<c>Operators:Keys</c> /
/// <c>AdminKeys</c>, <see cref="OperatorKeys"/>), or with the cookie <see cref="CookieName"/> that
/// <c>POST /dashboard/login</c> sets (an HMAC of the dashboard key, never the key itself). It is open only when neither
/// a dashboard key nor (with <c>Operators:AllowAnonymous</c> off) a shared operator key is configured.
/// </summary>
public sealed class OperatorKeyAuth(IOptions<DashboardOptions> options, IOptions<OperatorOptions> operators)
{
    public const string HeaderName = OperatorKeys.HeaderName;
    public const string CookieName = "rlhf-operator";

    bool HasDashboardKey => !string.IsNullOrEmpty(options.Value.OperatorKey);

    public bool Enabled => HasDashboardKey
        || (!operators.Value.AllowAnonymous && (operators.Value.Keys.Count > 0 || operators.Value.AdminKeys.Count > 0));

    public async Task<bool> IsOperatorAsync(HttpContext context)
    {
        if (!Enabled)
            return true;
        var header = context.Request.Headers[HeaderName].ToString();
        if (header.Length > 0)
        {
            if (HasDashboardKey && FixedTimeEquals(header, options.Value.OperatorKey!))
                return true;
            var shared = await context.AuthenticateAsync(OperatorKeys.Scheme);
            return shared.Succeeded && shared.Principal.IsInRole(OperatorKeys.OperatorRole);
        }

        return HasDashboardKey && context.Request.Cookies.TryGetValue(CookieName, out var cookie) && FixedTimeEquals(cookie, CookieValue());
    }

    /// <summary>Checks a key typed on the login page; on success the response carries the operator cookie.</summary>
    public bool TrySignIn(string? key, HttpResponse response)
    {
        if (!HasDashboardKey || key is null || !FixedTimeEquals(key, options.Value.OperatorKey!))
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
        if (await auth.IsOperatorAsync(context.HttpContext))
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
