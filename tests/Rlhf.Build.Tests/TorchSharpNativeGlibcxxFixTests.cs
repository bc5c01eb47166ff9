using System.Runtime.Versioning;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Rlhf.Build.Tests;

/// <summary>
/// The task as Directory.Build.targets runs it, with TorchSharpNativeFix=force so the outcome
/// does not depend on this host's libstdc++. Most outputs here are symlinks into a stand-in for
/// the NuGet cache: the case where writing in place would corrupt the cache.
/// </summary>
[SupportedOSPlatform("linux")] // the fix and its fixtures are Linux-only: ELF, symlinks, Unix modes
public sealed class TorchSharpNativeGlibcxxFixTests : IDisposable
{
    static readonly byte[] Fixture = File.ReadAllBytes(ElfFixtures.NeedsGlibcxx3432);
    static readonly DateTime BuildTime = new(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);
    const UnixFileMode Executable = (UnixFileMode)0b111_101_101; // 0755, as NuGet extracts native libraries

    readonly ScratchDirectory scratch = new();
    readonly RecordingBuildEngine engine = new();

    [Fact]
    public void Patches_the_output_copy_and_never_writes_the_package_cache_it_links_to()
    {
        string cache = CachedLibrary(Fixture);
        string output = OutputLinkTo(cache);

        Assert.True(RunForced(output));

        Assert.Equal(Fixture, File.ReadAllBytes(cache));
        Assert.Null(new FileInfo(output).LinkTarget);
        Assert.Equal(PatchedFixture(), File.ReadAllBytes(output));
        Assert.Equal($"TorchSharp native fix: patched {output}", Assert.Single(engine.Messages, m => m.Importance == MessageImportance.High).Message);
        Assert.Empty(engine.Errors);
    }

    [Fact]
    public void Patching_a_copied_output_keeps_its_timestamp_and_mode()
    {
        string output = scratch.File("bin/libLibTorchSharp.so");
        File.Copy(CachedLibrary(Fixture), output);
        File.SetLastWriteTimeUtc(output, BuildTime);

        Assert.True(RunForced(output));

        Assert.Equal(PatchedFixture(), File.ReadAllBytes(output));
        // Kept so MSBuild's incremental copy still sees the output as up to date.
        Assert.Equal(BuildTime, File.GetLastWriteTimeUtc(output));
        Assert.Equal(Executable, File.GetUnixFileMode(output));
    }

    [Fact]
    public void A_second_run_reports_already_patched_and_changes_nothing()
    {
        string output = OutputLinkTo(CachedLibrary(Fixture));
        Assert.True(RunForced(output));
        byte[] patched = File.ReadAllBytes(output);
        DateTime patchedTime = File.GetLastWriteTimeUtc(output);
        engine.Messages.Clear();

        Assert.True(RunForced(output));

        Assert.Equal(patched, File.ReadAllBytes(output));
        Assert.Equal(patchedTime, File.GetLastWriteTimeUtc(output));
        Assert.Equal($"TorchSharp native fix: {output} already patched.", Assert.Single(engine.Messages).Message);
    }

    [Fact]
    public void An_already_patched_library_is_not_rewritten()
    {
        string output = OutputLinkTo(CachedLibrary(PatchedFixture()));

        Assert.True(RunForced(output));

        // A rewrite would have replaced the link with a private copy.
        Assert.NotNull(new FileInfo(output).LinkTarget);
        Assert.Equal($"TorchSharp native fix: {output} already patched.", Assert.Single(engine.Messages).Message);
    }

    [Fact]
    public void A_library_without_the_version_need_is_left_alone()
    {
        byte[] plain = File.ReadAllBytes(ElfFixtures.Plain);
        string cache = CachedLibrary(plain);
        string output = OutputLinkTo(cache);

        Assert.True(RunForced(output));

        Assert.NotNull(new FileInfo(output).LinkTarget);
        Assert.Equal(plain, File.ReadAllBytes(cache));
        Assert.Equal($"TorchSharp native fix: {output} has no GLIBCXX_3.4.32 version need; nothing to do.", Assert.Single(engine.Messages).Message);
    }

    [Fact]
    public void A_truncated_library_fails_the_build_with_an_error_that_names_it()
    {
        string output = scratch.File("bin/libLibTorchSharp.so");
        File.WriteAllBytes(output, Fixture[..1024]);

        Assert.False(RunForced(output));

        Assert.Equal(
            $"TorchSharp native fix: could not patch {output}: section header table out of range (set TorchSharpNativeFix=false to skip this step)",
            Assert.Single(engine.Errors).Message);
        Assert.Equal(Fixture[..1024], File.ReadAllBytes(output));
    }

    [Fact]
    public void A_file_that_is_not_ELF_is_skipped_without_an_error()
    {
        string output = scratch.File("bin/libLibTorchSharp.so");
        File.WriteAllText(output, "version https://git-lfs.github.com/spec/v1 - a pointer, not the library");

        Assert.True(RunForced(output));

        Assert.Empty(engine.Errors);
        Assert.Equal($"TorchSharp native fix: {output} is not an ELF file; skipped.", Assert.Single(engine.Messages).Message);
    }

    public void Dispose() => scratch.Dispose();

    static byte[] PatchedFixture()
    {
        byte[] patched = (byte[])Fixture.Clone();
        patched[ElfFixtures.Glibcxx3432FlagsOffset] |= 0x2; // VER_FLG_WEAK
        return patched;
    }

    string CachedLibrary(byte[] content)
    {
        string path = scratch.File("nuget/torchsharp/runtimes/linux-x64/native/libLibTorchSharp.so");
        File.WriteAllBytes(path, content);
        File.SetUnixFileMode(path, Executable);
        return path;
    }

    string OutputLinkTo(string cached)
    {
        string path = scratch.File("bin/runtimes/linux-x64/native/libLibTorchSharp.so");
        File.CreateSymbolicLink(path, cached);
        return path;
    }

    bool RunForced(string path) =>
        new TorchSharpNativeGlibcxxFix { BuildEngine = engine, Files = [new TaskItem(path)], Force = true }.Execute();

    sealed class RecordingBuildEngine : IBuildEngine
    {
        public List<BuildMessageEventArgs> Messages { get; } = [];
        public List<BuildErrorEventArgs> Errors { get; } = [];

        public bool ContinueOnError => false;
        public int LineNumberOfTaskNode => 0;
        public int ColumnNumberOfTaskNode => 0;
        public string ProjectFileOfTaskNode => "Directory.Build.targets";

        public void LogMessageEvent(BuildMessageEventArgs e) => Messages.Add(e);
        public void LogErrorEvent(BuildErrorEventArgs e) => Errors.Add(e);

        // The task logs no warnings or custom events and builds no projects: any such call is a test failure.
        public void LogWarningEvent(BuildWarningEventArgs e) => throw new InvalidOperationException(e.Message);
        public void LogCustomEvent(CustomBuildEventArgs e) => throw new InvalidOperationException(e.Message);
        public bool BuildProjectFile(string projectFileName, string[] targetNames, System.Collections.IDictionary globalProperties, System.Collections.IDictionary targetOutputs) =>
            throw new InvalidOperationException(projectFileName);
    }
}
