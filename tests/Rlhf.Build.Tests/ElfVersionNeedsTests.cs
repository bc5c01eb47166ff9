using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Rlhf.Build.Tests;

public sealed class ElfVersionNeedsTests
{
    static readonly byte[] Fixture = File.ReadAllBytes(ElfFixtures.NeedsGlibcxx3432);

    [Theory]
    [InlineData("GLIBCXX_3.4.32")] // last entry of the second Verneed (libstdc++.so.6)
    [InlineData("GLIBCXX_3.4")]
    [InlineData("GLIBC_2.2.5")] // the first Verneed (libc.so.6)
    public void Marking_a_version_weak_sets_one_bit_of_its_own_Vernaux_entry_and_nothing_else(string version)
    {
        byte[] patched = (byte[])Fixture.Clone();
        VersionNeedScan scan = ElfVersionNeeds.Scan(patched, version);
        Assert.Equal(VersionNeedState.Strong, scan.State);

        ElfVersionNeeds.MarkWeak(patched, scan);

        int changed = Assert.Single(Enumerable.Range(0, Fixture.Length), i => patched[i] != Fixture[i]);
        Assert.Equal(Fixture[changed] | 0x2, patched[changed]); // VER_FLG_WEAK
        using var scratch = new ScratchDirectory();
        string file = scratch.File("patched.so");
        File.WriteAllBytes(file, patched);
        var expected = new Dictionary<string, string> { ["GLIBC_2.2.5"] = "none", ["GLIBCXX_3.4"] = "none", ["GLIBCXX_3.4.32"] = "none" };
        expected[version] = "WEAK";
        Assert.Equal(expected, ElfFixtures.ReadelfVersionNeedFlags(file));
    }

    [Fact]
    public void A_patched_file_scans_as_weak_and_marking_it_again_changes_nothing()
    {
        byte[] patched = (byte[])Fixture.Clone();
        ElfVersionNeeds.MarkWeak(patched, ElfVersionNeeds.Scan(patched, ElfFixtures.Version));
        byte[] patchedOnce = (byte[])patched.Clone();

        VersionNeedScan rescan = ElfVersionNeeds.Scan(patched, ElfFixtures.Version);
        ElfVersionNeeds.MarkWeak(patched, rescan);

        Assert.Equal(VersionNeedState.Weak, rescan.State);
        Assert.Equal([ElfFixtures.Glibcxx3432FlagsOffset], rescan.FlagOffsets);
        Assert.Equal(patchedOnce, patched);
    }

    [Theory]
    [InlineData("libplain.so", "GLIBCXX_3.4.32")]
    [InlineData("libneeds-glibcxx-3.4.32.so", "GLIBCXX_3.4.3")] // a prefix of two names in the table
    [InlineData("libneeds-glibcxx-3.4.32.so", "GLIBCXX_3.4.321")]
    public void A_file_without_the_version_scans_as_absent_and_is_left_untouched(string fixture, string version)
    {
        byte[] original = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", fixture));
        byte[] data = (byte[])original.Clone();

        VersionNeedScan scan = ElfVersionNeeds.Scan(data, version);
        ElfVersionNeeds.MarkWeak(data, scan);

        Assert.Equal(VersionNeedState.Absent, scan.State);
        Assert.Empty(scan.FlagOffsets);
        Assert.Equal(original, data);
    }

    public static TheoryData<string, byte[], VersionNeedState> NotElf64LittleEndian => new()
    {
        { "text", "TorchSharp native fix: this is a text file, long enough for an ELF64 header."u8.ToArray(), VersionNeedState.NotElf },
        { "empty", [], VersionNeedState.NotElf },
        { "the first 63 bytes of the fixture", Fixture[..63], VersionNeedState.NotElf },
        { "ELF32", Changed(d => d[4] = 1), VersionNeedState.NotElf64LittleEndian },
        { "big-endian", Changed(d => d[5] = 2), VersionNeedState.NotElf64LittleEndian },
    };

    [Theory]
    [MemberData(nameof(NotElf64LittleEndian))]
    public void A_file_that_is_not_ELF64_little_endian_is_reported_as_such(string what, byte[] data, VersionNeedState expected)
    {
        _ = what; // only names the case in the test output
        Assert.Equal(expected, ElfVersionNeeds.Scan(data, ElfFixtures.Version).State);
    }

    [Fact]
    public void Every_truncation_of_the_fixture_is_invalid_data_not_an_index_error()
    {
        Assert.All(Enumerable.Range(64, Fixture.Length - 64), length =>
            Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.Scan(Fixture[..length], ElfFixtures.Version)));
    }

    public static TheoryData<string, byte[], string> Corrupt => new()
    {
        { "cut in half", Fixture[..(Fixture.Length / 2)], "section header table out of range" },
        // The libc.so.6 Verneed opens .gnu.version_r; its vn_next is 12 bytes in.
        { "vn_next past the section", Changed(d => BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(0x398 + 12), 0x10000)), "Verneed entry out of range" },
        // GLIBCXX_3.4 (0x398 + 0x30) is followed by GLIBCXX_3.4.32; its vna_next is 12 bytes in.
        { "vna_next past the section", Changed(d => BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(0x398 + 0x30 + 12), 0x10000)), "Vernaux entry out of range" },
        // e_shnum 0 means "the count is in section 0's sh_size", here 4 bytes short of the end.
        {
            "extended section count cut off",
            Changed(d =>
            {
                BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(0x3c), 0);
                BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(0x28), (ulong)d.Length - 36);
            }),
            $"read past end of file at offset {Fixture.Length}"
        },
    };

    [Theory]
    [MemberData(nameof(Corrupt))]
    public void A_corrupt_file_gives_invalid_data_that_says_what_is_wrong(string what, byte[] data, string message)
    {
        _ = what; // only names the case in the test output
        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.Scan(data, ElfFixtures.Version));
        Assert.Equal(message, error.Message);
    }

    delegate int FixtureAnswer();

    [Fact]
    public void The_patched_fixture_loads_and_runs_where_the_unpatched_one_is_refused()
    {
        using var scratch = new ScratchDirectory();
        string unpatched = scratch.File("unpatched.so");
        File.Copy(ElfFixtures.NeedsGlibcxx3432, unpatched);
        if (NativeLibrary.TryLoad(unpatched, out IntPtr loaded))
        {
            NativeLibrary.Free(loaded);
            Assert.Skip("This host's libstdc++ provides GLIBCXX_3.4.32, so loading cannot tell patched from unpatched.");
        }
        var refused = Assert.Throws<DllNotFoundException>(() => NativeLibrary.Load(unpatched));
        Assert.Contains("version `GLIBCXX_3.4.32' not found", refused.Message);

        byte[] data = File.ReadAllBytes(unpatched);
        ElfVersionNeeds.MarkWeak(data, ElfVersionNeeds.Scan(data, ElfFixtures.Version));
        string patched = scratch.File("patched.so");
        File.WriteAllBytes(patched, data);
        IntPtr library = NativeLibrary.Load(patched);
        try
        {
            var answer = Marshal.GetDelegateForFunctionPointer<FixtureAnswer>(NativeLibrary.GetExport(library, "fixture_answer"));
            Assert.Equal(42, answer()); // operator new from the real libstdc++, strtol from libc
        }
        finally
        {
            NativeLibrary.Free(library);
        }
    }

    static byte[] Changed(Action<byte[]> change)
    {
        byte[] copy = (byte[])Fixture.Clone();
        change(copy);
        return copy;
    }
}
