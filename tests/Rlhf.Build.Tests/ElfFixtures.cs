using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Rlhf.Build.Tests;

/// <summary>The committed fixtures; Fixtures/make-fixtures.sh says how they were made.</summary>
static class ElfFixtures
{
    public const string Version = "GLIBCXX_3.4.32";

    /// <summary>
    /// vna_flags of the GLIBCXX_3.4.32 Vernaux entry in libneeds-glibcxx-3.4.32.so, from
    /// `readelf -V`: .gnu.version_r at 0x398, that entry at +0x40, vna_flags 4 bytes into it.
    /// </summary>
    public const int Glibcxx3432FlagsOffset = 0x398 + 0x40 + 4;

    public static string NeedsGlibcxx3432 => Path.Combine(AppContext.BaseDirectory, "Fixtures", "libneeds-glibcxx-3.4.32.so");

    public static string Plain => Path.Combine(AppContext.BaseDirectory, "Fixtures", "libplain.so");

    /// <summary>
    /// Version name to vna_flags ("none", "WEAK") for every Vernaux entry, as binutils' readelf
    /// decodes them: a reader of .gnu.version_r that shares no code with ElfVersionNeeds.
    /// </summary>
    public static Dictionary<string, string> ReadelfVersionNeedFlags(string path)
    {
        var start = new ProcessStartInfo("readelf", ["-V", "--wide", path]) { RedirectStandardOutput = true };
        using var readelf = Process.Start(start)!;
        string output = readelf.StandardOutput.ReadToEnd();
        readelf.WaitForExit();
        Assert.Equal(0, readelf.ExitCode);
        // Vernaux lines read "  0x0040:   Name: GLIBCXX_3.4.32  Flags: WEAK  Version: 2".
        return Regex.Matches(output, @"Name: (\S+)\s+Flags: (\S+)")
            .ToDictionary(match => match.Groups[1].Value, match => match.Groups[2].Value);
    }
}

sealed class ScratchDirectory : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("rlhf-build-tests-").FullName;

    public string File(string relativePath)
    {
        string path = Path.Combine(Root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
