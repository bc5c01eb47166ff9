using System.Reflection;

/// <summary>
/// Loaded into a child <c>rlhf</c> process through <c>DOTNET_STARTUP_HOOKS</c> by
/// <see cref="Rlhf.Cli.Tests.TorchSharpLoadingTests"/>: when the process exits, it writes the names of the managed
/// assemblies the process loaded, and <c>native:&lt;file&gt;</c> for each LibTorch library mapped into it, to the file
/// that <c>RLHF_LOADED_ASSEMBLIES</c> names. The runtime finds it by this name, outside any namespace.
/// </summary>
public static class StartupHook
{
    public const string OutputVariable = "RLHF_LOADED_ASSEMBLIES";

    public static void Initialize()
    {
        if (Environment.GetEnvironmentVariable(OutputVariable) is not { } path)
            return;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.WriteAllLines(path, Loaded());
    }

    static IEnumerable<string> Loaded()
    {
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
            yield return assembly.GetName().Name ?? "";
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps))
            yield break;
        var natives = File.ReadLines(maps)
            .Select(line => Path.GetFileName(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1]))
            .Where(file => file.StartsWith("libtorch", StringComparison.Ordinal))
            .Distinct();
        foreach (var native in natives)
            yield return "native:" + native;
    }
}
