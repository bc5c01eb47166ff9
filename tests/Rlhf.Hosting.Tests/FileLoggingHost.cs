using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Rlhf.Hosting.Tests;

/// <summary>A generic host with the service defaults, the in-memory bus and its log written only to <c>file</c>.</summary>
static class FileLoggingHost
{
    public static IHost Build(string file, IReadOnlyDictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>(settings)
        {
            ["Bus:Transport"] = "InMemory",
            ["Log:Console"] = "false",
            ["Log:File"] = file,
        });
        builder.AddServiceDefaults();
        return builder.Build();
    }
}
