using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Rlhf.Hosting.Authentication;

/// <summary>
/// Configuration section <c>Operators</c>: the keys of people and tools that run the platform (not client apps). Two
/// roles: <see cref="OperatorKeys.OperatorRole"/> reads status, registry and dashboard data and scores ad hoc;
/// <see cref="OperatorKeys.AdminRole"/> (which includes it) changes state (promote, rollback, abort a canary,
/// requeue, purge). Keys are held as SHA-256 hashes like client keys (<c>printf %s "$KEY" | sha256sum</c>) and sent
/// in the <c>X-Operator-Key</c> header.
/// </summary>
public sealed class OperatorOptions : IValidatableObject
{
    public const string SectionName = "Operators";

    /// <summary>Operator name to the hex SHA-256 of its key: role <c>operator</c>.</summary>
    public Dictionary<string, string> Keys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Admin name to the hex SHA-256 of its key: roles <c>operator</c> and <c>admin</c>.</summary>
    public Dictionary<string, string> AdminKeys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Lets callers without a key use the protected routes (a presented key is still checked). Off by default; the shipped
    /// appsettings of a local run turn it on, every deployment with keys should leave it off.
    /// </summary>
    public bool AllowAnonymous { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var problem in HashedKeyRing.Problems(Keys, $"{SectionName}:{nameof(Keys)}")
                     .Concat(HashedKeyRing.Problems(AdminKeys, $"{SectionName}:{nameof(AdminKeys)}")))
            yield return new ValidationResult(problem, [nameof(Keys)]);
        foreach (var name in Keys.Keys.Intersect(AdminKeys.Keys, StringComparer.Ordinal))
            yield return new ValidationResult($"{SectionName}: '{name}' is both in {nameof(Keys)} and {nameof(AdminKeys)}; name it once.", [nameof(Keys)]);
    }
}

/// <summary>
/// The one operator scheme every service shares (registered by <c>AddServiceDefaults</c>): the client-key handler reading
/// <c>X-Operator-Key</c> with the <c>Operators</c> keys and their roles, and two policies. No key: 401 (unless
/// <see cref="OperatorOptions.AllowAnonymous"/>); an unknown key: 401; a key without the role: 403.
/// </summary>
public static class OperatorKeys
{
    public const string Scheme = "OperatorKey";
    public const string HeaderName = "X-Operator-Key";
    public const string OperatorRole = "operator";
    public const string AdminRole = "admin";
    public const string OperatorPolicy = "rlhf-operator";
    public const string AdminPolicy = "rlhf-admin";

    public static IServiceCollection AddOperatorKeys(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<OperatorOptions>().Bind(configuration.GetSection(OperatorOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddAuthentication().AddScheme<ClientKeyAuthenticationOptions, ClientKeyAuthenticationHandler>(Scheme, _ => { });
        services.AddOptions<ClientKeyAuthenticationOptions>(Scheme).Configure<IOptions<OperatorOptions>>((scheme, operators) =>
        {
            var options = operators.Value;
            scheme.HeaderName = HeaderName;
            scheme.KeyHashes = options.Keys.Concat(options.AdminKeys).ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
            scheme.Roles = options.Keys.Keys.Select(name => (name, new[] { OperatorRole }))
                .Concat(options.AdminKeys.Keys.Select(name => (name, new[] { OperatorRole, AdminRole })))
                .ToDictionary(e => e.name, e => e.Item2, StringComparer.Ordinal);
        });
        services.AddAuthorizationBuilder()
            .AddPolicy(OperatorPolicy, policy => Require(policy, OperatorRole))
            .AddPolicy(AdminPolicy, policy => Require(policy, AdminRole));
        return services;
    }

    /// <summary>Only operators (and admins) may call these routes.</summary>
    public static TBuilder RequireOperator<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(OperatorPolicy);

    /// <summary>Only admins may call these routes.</summary>
    public static TBuilder RequireAdmin<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(AdminPolicy);

    static void Require(AuthorizationPolicyBuilder policy, string role) => policy
        .AddAuthenticationSchemes(Scheme)
        .RequireAssertion(context => context.User.IsInRole(role)
            || (context.User.Identity?.IsAuthenticated != true
                && context.Resource is HttpContext http
                && http.RequestServices.GetRequiredService<IOptions<OperatorOptions>>().Value.AllowAnonymous
                && !ClientKeyAuthenticationHandler.PresentsKey(http, HeaderName)));
}
