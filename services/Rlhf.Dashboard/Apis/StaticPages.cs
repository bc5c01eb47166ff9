using System.Collections.Frozen;
using System.Reflection;

namespace Rlhf.Dashboard.Apis;

/// <summary>The dashboard's pages, scripts and styles, embedded in the assembly (folder <c>Page/</c>) and served from memory.</summary>
public static class StaticPages
{
    static readonly FrozenDictionary<string, (byte[] Body, string ContentType)> Files = Load();

    /// <summary>The file named <paramref name="name"/> (for example <c>dashboard.js</c>), or 404.</summary>
    public static IResult Serve(string name) =>
        Files.TryGetValue(name, out var file) ? TypedResults.Bytes(file.Body, file.ContentType) : TypedResults.NotFound();

    public static string Text(string name) => System.Text.Encoding.UTF8.GetString(Files[name].Body);

    static FrozenDictionary<string, (byte[], string)> Load()
    {
        var assembly = typeof(StaticPages).Assembly;
        const string prefix = "Rlhf.Dashboard.Page.";
        return assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .ToFrozenDictionary(n => n[prefix.Length..], n => (Read(assembly, n), ContentType(n)));
    }

    static byte[] Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    static string ContentType(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    };
}
