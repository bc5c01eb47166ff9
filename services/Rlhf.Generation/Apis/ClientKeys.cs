using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using Rlhf.Hosting.Authentication;

namespace Rlhf.Generation.Apis;

/// <summary>
/// Client apps authenticate with <c>Authorization: Bearer &lt;key&gt;</c> (<see cref="GenerationOptions.ClientKeys"/>,
/// hashed); the client name is recorded on every rollout. Callers without a key are let in only when
/// <see cref="GenerationOptions.AllowAnonymous"/> is set; a wrong key is refused either way.
/// </summary>
public static class ClientKeys
{
    public const string Scheme = "GenerationClientKey";
    public const string Policy = "GenerationClient";

    public static IServiceCollection AddGenerationClientKeys(this IServiceCollection services)
    {
        services.AddAuthentication().AddScheme<ClientKeyAuthenticationOptions, ClientKeyAuthenticationHandler>(Scheme, _ => { });
        services.AddOptions<ClientKeyAuthenticationOptions>(Scheme)
            .Configure<IOptions<GenerationOptions>>((scheme, generation) => scheme.KeyHashes = generation.Value.ClientKeys);
        services.AddAuthorizationBuilder().AddPolicy(Policy, policy => policy
            .AddAuthenticationSchemes(Scheme)
            .RequireAssertion(context => context.User.Identity?.IsAuthenticated == true
                || (context.Resource is HttpContext http
                    && http.RequestServices.GetRequiredService<IOptions<GenerationOptions>>().Value.AllowAnonymous
                    && !ClientKeyAuthenticationHandler.PresentsKey(http, headerName: null))));
        return services;
    }

    public static TBuilder RequireClientKey<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(Policy);
}
