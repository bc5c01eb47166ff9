using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Hosting;

namespace Rlhf.Deploy.Tests;

/// <summary>The GET paths every service maps through <see cref="ServiceDefaultsExtensions.MapDefaultEndpoints"/>, read from a real app's routes.</summary>
public static class HealthPaths
{
    public static IReadOnlySet<string> Mapped { get; } = Read();

    static HashSet<string> Read()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["Bus:Transport"] = "InMemory";
        builder.AddServiceDefaults();
        using var app = builder.Build();
        app.MapDefaultEndpoints();
        return [.. ((IEndpointRouteBuilder)app).DataSources.SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Select(e => "/" + e.RoutePattern.RawText!.TrimStart('/'))];
    }
}
